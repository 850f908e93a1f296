"""Samples: written in batches, read back as detection observations, rolled up, expired.

A sample is stored compactly (tables.py): its series as a number, times in milliseconds, the
error kind as a small number, the detail only when it says more than the series' usual one,
and the phases only of bad samples (the phases of every sample are in the metrics).
"""

from __future__ import annotations

import bisect
import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    Select,
    delete,
    func,
    insert,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.config.slo import LATENCY_BOUNDARIES
from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.store import series as series_store
from outagewatch.store.engine import BACKENDS
from outagewatch.store.series import LOOKUP_CHUNK, Series, SeriesKey
from outagewatch.store.tables import (
    NewSample,
    StoredSample,
    error_code,
    millis_of,
    rollups,
    samples,
    series,
    to_millis,
)

__all__ = ["SampleRow", "rollups", "samples", "series"]
DETAIL_LENGTH = 256


@dataclass(frozen=True)
class SampleRow:
    platform: str
    service: str
    vantage: str
    result: ProbeResult
    bad: bool

    @property
    def key(self) -> SeriesKey:
        return (self.platform, self.service, self.vantage)

    @property
    def good_detail(self) -> str | None:
        """The detail of a probe that succeeded: what the series' usual detail is made of."""
        return self.result.detail[:DETAIL_LENGTH] if self.result.ok else None


async def insert_samples(
    conn: AsyncConnection,
    rows: Sequence[SampleRow],
    known: Mapping[SeriesKey, Series] | None = None,
) -> None:
    """Store ``rows`` and move each series' newest sample up; ``known`` are series already
    resolved (the writer's SeriesCache)."""
    if not rows:
        return
    if known is None or any(row.key not in known for row in rows):
        known = await series_store.resolve(conn, {row.key: row.good_detail for row in rows})
    # Converted here, as tables.py's types would, and written by the backend in one or two
    # prepared statements: SQLAlchemy's INSERT ... RETURNING, ordered, ran one statement per
    # sample on SQLite, and its per-row processing was most of a batch's CPU.
    stored = [_stored(row, known[row.key]) for row in rows]
    await BACKENDS[conn.dialect.name].insert_samples(conn, stored)


def _stored(row: SampleRow, of: Series) -> StoredSample:
    result = row.result
    detail = result.detail[:DETAIL_LENGTH]
    kind = None if result.ok else (result.error_kind or ErrorKind.UNEXPECTED)
    phases = {k: to_millis(v) for k, v in result.phases.items()} if row.bad else None
    return (
        millis_of(result.started_at),
        of.id,
        to_millis(result.duration),
        row.bad,
        None if kind is None else error_code(kind),
        None if result.ok and detail == of.usual_detail else detail,
        None if phases is None else json.dumps(phases),
    )


def readable() -> Select[Any]:
    """Samples as the code sees them: named series, ``ok``, the detail filled in."""
    return select(
        samples.c.id, series.c.platform, series.c.service, series.c.vantage,
        samples.c.started_at, samples.c.duration,
        type_coerce(samples.c.error_kind.is_(None), Boolean).label("ok"),
        samples.c.bad, samples.c.error_kind,
        func.coalesce(samples.c.detail, series.c.usual_detail, "").label("detail"),
        samples.c.phases,
    ).join_from(samples, series, samples.c.series_id == series.c.id)  # fmt: skip


def as_dict(row: Any) -> dict[str, Any]:
    data = dict(row._mapping)
    data["phases"] = {k: v / 1000 for k, v in (data["phases"] or {}).items()}
    return data


async def observations_since(
    conn: AsyncConnection, platform: str, service: str, since: datetime
) -> dict[str, list[tuple[datetime, bool]]]:
    """Each vantage's samples of one service after ``since`` (start, bad), oldest first."""
    query = (
        select(series.c.vantage, samples.c.started_at, samples.c.bad)
        .join_from(samples, series, samples.c.series_id == series.c.id)
        .where(series.c.platform == platform, series.c.service == service)
        .where(samples.c.started_at > since)
        .order_by(samples.c.started_at, samples.c.id)
    )
    found: dict[str, list[tuple[datetime, bool]]] = {}
    for vantage, started_at, bad in await conn.execute(query):
        found.setdefault(vantage, []).append((started_at, bad))
    return found


async def roll_up_hour(conn: AsyncConnection, hour: datetime) -> int:
    """Summarise the raw samples of one hour (idempotent: re-running replaces the rows)."""
    end = hour + timedelta(hours=1)
    query = (
        select(series.c.platform, series.c.service, series.c.vantage, samples.c.duration,
               samples.c.bad)
        .join_from(samples, series, samples.c.series_id == series.c.id)
        .where(samples.c.started_at >= hour, samples.c.started_at < end)
    )  # fmt: skip
    groups: dict[tuple[str, str, str], list[tuple[float, bool]]] = {}
    for platform, service, vantage, duration, bad in await conn.execute(query):
        groups.setdefault((platform, service, vantage), []).append((duration, bad))
    await conn.execute(delete(rollups).where(rollups.c.hour == hour))
    if groups:
        await conn.execute(
            insert(rollups), [_summary(key, hour, values) for key, values in groups.items()]
        )
    return len(groups)


def _summary(
    key: tuple[str, str, str], hour: datetime, values: list[tuple[float, bool]]
) -> dict[str, object]:
    durations = sorted(d for d, _ in values)
    quantiles = (
        statistics.quantiles(durations, n=100, method="inclusive") if len(durations) > 1 else None
    )
    return {
        "platform": key[0],
        "service": key[1],
        "vantage": key[2],
        "hour": hour,
        "count": len(values),
        "bad_count": sum(bad for _, bad in values),
        "p50": quantiles[49] if quantiles else durations[0],
        "p95": quantiles[94] if quantiles else durations[0],
        "max": durations[-1],
        "le_counts": {
            repr(b): bisect.bisect_right(durations, b) for b in LATENCY_BOUNDARIES
        },  # at most b, as the histogram's le buckets count
    }


async def expire(
    conn: AsyncConnection, now: datetime, raw: timedelta, rolled: timedelta
) -> tuple[int, int]:
    """Drop raw samples older than ``raw`` and roll-ups older than ``rolled``."""
    gone_raw = await conn.execute(delete(samples).where(samples.c.started_at < now - raw))
    gone_rolled = await conn.execute(delete(rollups).where(rollups.c.hour < now - rolled))
    return gone_raw.rowcount, gone_rolled.rowcount


async def latest_sample_time(conn: AsyncConnection) -> datetime | None:
    value: datetime | None = await conn.scalar(select(func.max(series.c.newest_started_at)))
    return value


async def latest_samples(
    conn: AsyncConnection, keys: Sequence[tuple[str, str]] | None = None
) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The newest sample (by start, then by id) of every (platform, service, vantage), or
    only of the services ``keys`` names: a page pays for what it shows."""
    query = select(series.c.platform, series.c.service, series.c.newest_id)
    if keys is not None:
        query = query.where(series.c.platform.in_({p for p, _ in keys}))
    wanted = set(keys) if keys is not None else None
    newest = sorted(
        i
        for p, s, i in await conn.execute(query)
        if i is not None and (wanted is None or (p, s) in wanted)
    )
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for start in range(0, len(newest), LOOKUP_CHUNK):
        chunk = newest[start : start + LOOKUP_CHUNK]
        # The bounds let PostgreSQL's BRIN index on id narrow the search (it has no B-tree).
        query = readable().where(samples.c.id.between(chunk[0], chunk[-1]), samples.c.id.in_(chunk))
        for row in await conn.execute(query):
            data = as_dict(row)
            found[(data["platform"], data["service"], data["vantage"])] = data
    return found


async def newest_bad(conn: AsyncConnection) -> list[tuple[str, str]]:
    """The services with a vantage whose newest sample was bad: one statement, one row per
    such service, so that a list of the troubled ones costs what it shows."""
    query = (
        select(series.c.platform, series.c.service)
        .distinct()
        .join(samples, samples.c.id == series.c.newest_id)
        .where(samples.c.bad)
        .order_by(series.c.platform, series.c.service)
    )
    return [(p, s) for p, s in await conn.execute(query)]


async def newest_starts(conn: AsyncConnection) -> dict[SeriesKey, datetime]:
    """When each series' newest sample started, for every series in one query: the
    detector's restore needs to know which vantages reported lately."""
    query = select(
        series.c.platform, series.c.service, series.c.vantage, series.c.newest_started_at
    ).where(series.c.newest_started_at.is_not(None))
    return {(p, s, v): at for p, s, v, at in await conn.execute(query)}


async def last_bad_flags(
    conn: AsyncConnection, platform: str, service: str, count: int
) -> list[bool]:
    """Whether each of the newest ``count`` samples of a service (any vantage) was bad."""
    ids = await conn.scalars(
        select(series.c.id).where(series.c.platform == platform, series.c.service == service)
    )
    newest: list[tuple[datetime, int, bool]] = []
    for series_id in ids.all():  # a few vantages: each one's newest, merged
        query = (
            select(samples.c.started_at, samples.c.id, samples.c.bad)
            .where(samples.c.series_id == series_id)
            .order_by(samples.c.started_at.desc(), samples.c.id.desc())
            .limit(count)
        )
        newest.extend((at, sample_id, bad) for at, sample_id, bad in await conn.execute(query))
    newest.sort(reverse=True)
    return [bool(bad) for _, _, bad in newest[:count]]


async def samples_after(conn: AsyncConnection, low_id: int, limit: int) -> list[NewSample]:
    """Samples of every vantage by insertion id, for the leader's detector: each backend
    reads them its cheapest way, as the leader does after every batch."""
    found: list[NewSample] = await BACKENDS[conn.dialect.name].samples_after(conn, low_id, limit)
    return found


async def max_sample_id(conn: AsyncConnection) -> int:
    # No sample is older than the newest of a series: the bound keeps PostgreSQL on its BRIN
    # index (max(id) alone would read the whole table).
    floor = select(func.coalesce(func.max(series.c.newest_id), 0)).scalar_subquery()
    found = await conn.scalar(select(func.max(samples.c.id)).where(samples.c.id >= floor))
    return int(found or 0)


async def first_id_since(conn: AsyncConnection, since: datetime) -> int:
    """The id just before the first sample that started after ``since``."""
    found = await conn.scalar(select(func.min(samples.c.id)).where(samples.c.started_at > since))
    return int(found) - 1 if found is not None else await max_sample_id(conn)
