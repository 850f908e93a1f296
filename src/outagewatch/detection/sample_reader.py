"""The leader reads back the samples every vantage wrote, each exactly once, by id.

Ids of concurrent writers (several vantages on PostgreSQL) may commit out of order, so ids
skipped over are remembered as holes and read again until they arrive or are
``LOOKBACK_IDS`` old (a hole that old was a rolled-back transaction).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outagewatch.detection.sample_writer import MAX_BATCH
from outagewatch.store import samples as sample_store
from outagewatch.store.tables import NewSample

READ_BATCH = MAX_BATCH * 5
LOOKBACK_IDS = 2000


class SampleReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reset()

    def reset(self) -> None:
        """Read from the first sample on (nothing is judged yet)."""
        self._watermark = 0  # the newest id read
        self._floor = 0  # ids at or below were before the restored window: never read
        self._seen: set[int] = set()
        self._holes: set[int] = set()

    async def resume(self, conn: AsyncConnection, since: datetime) -> None:
        """Read from the first sample that started after ``since`` on."""
        self.reset()
        self._watermark = self._floor = await sample_store.first_id_since(conn, since)

    @property
    def watermark(self) -> int:
        return self._watermark

    @property
    def holes(self) -> frozenset[int]:
        """Ids skipped over, read again until they arrive."""
        return frozenset(self._holes)

    async def read(self) -> tuple[list[NewSample], bool]:
        """The samples not read before, and whether more may be waiting."""
        # Read from the oldest hole (an id skipped, perhaps not committed yet) or, with no
        # hole, only what is new: re-reading the whole lookback every round cost half the
        # detector's CPU (docs/BENCHMARKS.md).
        low = min(self._holes) - 1 if self._holes else self._watermark
        low = max(low, self._floor)
        async with self.engine.connect() as conn:
            rows = await sample_store.samples_after(conn, low, READ_BATCH)
        new = []
        for row in rows:
            sample_id = row[0]
            if sample_id in self._seen:
                continue
            self._seen.add(sample_id)
            self._holes.discard(sample_id)
            new.append(row)
        if rows:
            newest = rows[-1][0]
            if newest > self._watermark:
                self._holes |= set(range(self._watermark + 1, newest)) - self._seen
                self._watermark = newest
            oldest = self._watermark - LOOKBACK_IDS
            self._seen = {i for i in self._seen if i > oldest}
            self._holes = {i for i in self._holes if i > oldest}
        return new, len(rows) >= READ_BATCH
