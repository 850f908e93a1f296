"""Samples: written in batches, read back as detection observations, rolled up, expired."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.detection.rule import Observation
from outagewatch.probes.result import ProbeResult
from outagewatch.store.tables import rollups, samples

__all__ = ["SampleRow", "rollups", "samples"]


@dataclass(frozen=True)
class SampleRow:
    platform: str
    service: str
    vantage: str
    result: ProbeResult
    bad: bool


async def insert_samples(conn: AsyncConnection, rows: Sequence[SampleRow]) -> None:
    if not rows:
        return
    await conn.execute(
        insert(samples),
        [
            {
                "platform": r.platform,
                "service": r.service,
                "vantage": r.vantage,
                "started_at": r.result.started_at,
                "duration": r.result.duration,
                "ok": r.result.ok,
                "bad": r.bad,
                "error_kind": None if r.result.error_kind is None else str(r.result.error_kind),
                "phases": r.result.phases,
                "detail": r.result.detail[:256],
            }
            for r in rows
        ],
    )


async def observations_since(
    conn: AsyncConnection, platform: str, service: str, since: datetime
) -> dict[str, list[Observation]]:
    """Each vantage's observations of one service after ``since``, oldest first."""
    query = (
        select(samples.c.vantage, samples.c.started_at, samples.c.bad)
        .where(
            samples.c.platform == platform,
            samples.c.service == service,
            samples.c.started_at > since,
        )
        .order_by(samples.c.started_at, samples.c.id)
    )
    found: dict[str, list[Observation]] = {}
    for vantage, started_at, bad in await conn.execute(query):
        found.setdefault(vantage, []).append(Observation.of(started_at, bad))
    return found


async def roll_up_hour(conn: AsyncConnection, hour: datetime) -> int:
    """Summarise the raw samples of one hour (idempotent: re-running replaces the rows)."""
    end = hour + timedelta(hours=1)
    query = select(
        samples.c.platform, samples.c.service, samples.c.vantage, samples.c.duration, samples.c.bad
    ).where(samples.c.started_at >= hour, samples.c.started_at < end)
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
    }


async def expire(
    conn: AsyncConnection, now: datetime, raw: timedelta, rolled: timedelta
) -> tuple[int, int]:
    """Drop raw samples older than ``raw`` and roll-ups older than ``rolled``."""
    gone_raw = await conn.execute(delete(samples).where(samples.c.started_at < now - raw))
    gone_rolled = await conn.execute(delete(rollups).where(rollups.c.hour < now - rolled))
    return gone_raw.rowcount, gone_rolled.rowcount


async def latest_sample_time(conn: AsyncConnection) -> datetime | None:
    value: datetime | None = await conn.scalar(select(func.max(samples.c.started_at)))
    return value


async def latest_samples(conn: AsyncConnection) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The newest sample of every (platform, service, vantage)."""
    newest = (
        select(func.max(samples.c.id).label("id"))
        .group_by(samples.c.platform, samples.c.service, samples.c.vantage)
        .subquery()
    )
    query = select(samples).where(samples.c.id.in_(select(newest.c.id)))
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in await conn.execute(query):
        data = dict(row._mapping)
        found[(data["platform"], data["service"], data["vantage"])] = data
    return found


async def last_bad_flags(
    conn: AsyncConnection, platform: str, service: str, count: int
) -> list[bool]:
    """Whether each of the newest ``count`` samples of a service (any vantage) was bad."""
    query = (
        select(samples.c.bad)
        .where(samples.c.platform == platform, samples.c.service == service)
        .order_by(samples.c.started_at.desc(), samples.c.id.desc())
        .limit(count)
    )
    return [bool(row[0]) for row in await conn.execute(query)]


async def samples_after(
    conn: AsyncConnection, low_id: int, limit: int
) -> list[tuple[int, str, str, str, datetime, bool]]:
    """Samples of every vantage by insertion id, for the leader's detector."""
    query = (
        select(
            samples.c.id, samples.c.platform, samples.c.service, samples.c.vantage,
            samples.c.started_at, samples.c.bad,
        )
        .where(samples.c.id > low_id)
        .order_by(samples.c.id)
        .limit(limit)
    )  # fmt: skip
    return [tuple(row) for row in await conn.execute(query)]


async def max_sample_id(conn: AsyncConnection) -> int:
    return int(await conn.scalar(select(func.max(samples.c.id))) or 0)


async def first_id_since(conn: AsyncConnection, since: datetime) -> int:
    """The id just before the first sample that started after ``since``."""
    found = await conn.scalar(select(func.min(samples.c.id)).where(samples.c.started_at > since))
    return int(found) - 1 if found is not None else await max_sample_id(conn)


async def vantages_since(
    conn: AsyncConnection, platform: str, service: str, since: datetime
) -> set[str]:
    query = (
        select(samples.c.vantage)
        .where(
            samples.c.platform == platform,
            samples.c.service == service,
            samples.c.started_at > since,
        )
        .distinct()
    )
    return {row[0] for row in await conn.execute(query)}
