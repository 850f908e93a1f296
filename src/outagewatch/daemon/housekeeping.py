"""Hourly roll-ups and retention: raw samples for ``retention.samples``, roll-ups longer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.config.model import Retention
from outagewatch.store import samples as sample_store
from outagewatch.store.tables import rollups, samples

HOUR = timedelta(hours=1)


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class Housekeeper:
    """``retention`` and ``settle`` read the current runtime's (a reload may change them)."""

    def __init__(
        self,
        engine: AsyncEngine,
        retention: Callable[[], Retention],
        settle: Callable[[], timedelta],
    ) -> None:
        self.engine = engine
        self.retention = retention
        self.settle = settle  # an hour is rolled up once its last probes have reported
        self.next_hour: datetime | None = None
        self.expired_at: datetime | None = None

    async def step(self, now: datetime) -> bool:
        """Roll up one finished hour, or expire old rows once an hour; True if it did."""
        async with self.engine.begin() as conn:
            if self.next_hour is None:
                last = await conn.scalar(select(func.max(rollups.c.hour)))
                first = await conn.scalar(select(func.min(samples.c.started_at)))
                start = last + HOUR if last is not None else first
                self.next_hour = _floor_hour(start) if start is not None else None
            if self.next_hour is not None and self.next_hour + HOUR + self.settle() <= now:
                await sample_store.roll_up_hour(conn, self.next_hour)
                self.next_hour += HOUR  # hours without samples are passed, not retried
                return True
            if self.expired_at is None or now - self.expired_at >= HOUR:
                self.expired_at = now
                retention = self.retention()
                await sample_store.expire(
                    conn, now, raw=retention.samples, rolled=retention.rollups
                )
                return True
        return False
