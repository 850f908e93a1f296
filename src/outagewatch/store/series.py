"""Series: the (platform, service, vantage) a sample belongs to, as a small number.

Every instance writes only its own vantage's series, so a series is created by one writer;
a second one (a restart racing its predecessor) finds it there and takes its id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import bindparam, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outagewatch.store.engine import BACKENDS
from outagewatch.store.tables import series

SeriesKey = tuple[str, str, str]  # platform, service, vantage
LOOKUP_CHUNK = 500


@dataclass(frozen=True)
class Series:
    id: int
    usual_detail: str | None


async def resolve(
    conn: AsyncConnection, wanted: Mapping[SeriesKey, str | None]
) -> dict[SeriesKey, Series]:
    """The series of ``wanted``, created when new. ``wanted`` maps each key to the detail of
    a good sample of it at hand (or None): a series without a usual detail takes that one."""
    found = await _select(conn, wanted)
    missing = [key for key in wanted if key not in found]
    if missing:
        backend = BACKENDS[conn.dialect.name]
        await conn.execute(
            backend.insert_ignoring_duplicates(series),
            [
                {"platform": p, "service": s, "vantage": v, "usual_detail": wanted[(p, s, v)]}
                for p, s, v in missing
            ],
        )
        found |= await _select(conn, missing)
    unset = [k for k, f in found.items() if f.usual_detail is None and wanted.get(k) is not None]
    if unset:
        await conn.execute(
            update(series)
            .where(series.c.id == bindparam("series_id"), series.c.usual_detail.is_(None))
            .values(usual_detail=bindparam("detail")),
            [{"series_id": found[key].id, "detail": wanted[key]} for key in unset],
        )
        found |= await _select(conn, unset)
    return found


async def _select(conn: AsyncConnection, keys: Iterable[SeriesKey]) -> dict[SeriesKey, Series]:
    wanted = list(keys)
    found: dict[SeriesKey, Series] = {}
    columns = tuple_(series.c.platform, series.c.service, series.c.vantage)
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        query = select(
            series.c.platform, series.c.service, series.c.vantage, series.c.id,
            series.c.usual_detail,
        ).where(columns.in_(wanted[start : start + LOOKUP_CHUNK]))  # fmt: skip
        for platform, service, vantage, series_id, usual in await conn.execute(query):
            found[(platform, service, vantage)] = Series(series_id, usual)
    return found


class SeriesCache:
    """The series a writer has seen committed, so that a batch of samples costs no lookup.
    Misses are resolved in a transaction of their own: an id is cached only once it exists
    for every other connection too."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.known: dict[SeriesKey, Series] = {}

    async def series_for(
        self, wanted: Iterable[tuple[SeriesKey, str | None]]
    ) -> dict[SeriesKey, Series]:
        """``wanted``: each sample's key and, for a good sample, its detail."""
        missing: dict[SeriesKey, str | None] = {}
        for key, good_detail in wanted:
            known = self.known.get(key)
            if known is None or (known.usual_detail is None and good_detail is not None):
                missing[key] = missing.get(key) or good_detail
        if missing:
            async with self.engine.begin() as conn:
                self.known |= await resolve(conn, missing)
        return self.known
