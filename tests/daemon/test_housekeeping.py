from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.config.model import Retention
from outagewatch.daemon.housekeeping import Housekeeper
from outagewatch.store import samples as sample_store
from outagewatch.store.tables import rollups, samples

from ..store.test_store import T0, row


@pytest.fixture
def engine(migrated_sqlite: AsyncEngine) -> AsyncEngine:
    return migrated_sqlite


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)  # type: ignore[arg-type]


async def test_rolls_up_each_finished_hour_once_then_expires(engine: AsyncEngine) -> None:
    # Samples in hour 0 and hour 3, nothing in between (the daemon was down).
    async with engine.begin() as conn:
        await sample_store.insert_samples(conn, [row(60, bad=False), row(3 * 3600 + 60, bad=True)])
    keeper = Housekeeper(engine, Retention, settle=lambda: timedelta(minutes=2))
    now = T0 + timedelta(hours=4, minutes=5)
    steps = 0
    while await keeper.step(now):
        steps += 1
    assert steps == 5  # hours 0, 1, 2, 3 and one expiry pass
    assert await count(engine, rollups) == 2
    assert not await keeper.step(now + timedelta(minutes=30))  # nothing new yet
    later = T0 + timedelta(days=20)
    keeper.retention = lambda: Retention(samples=timedelta(days=14), rollups=timedelta(days=400))
    while await keeper.step(later):
        pass
    assert await count(engine, samples) == 0  # raw samples past 14 days are gone
    assert await count(engine, rollups) == 2  # roll-ups stay for reports
