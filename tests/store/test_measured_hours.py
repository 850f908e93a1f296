"""The hours a report counts as measured, identical on both backends: rolled-up hours and
the hours of raw samples not rolled up yet, from any vantage, and nothing else."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.reporting.record import MeasuredHour
from outagewatch.reporting.store import measured_hours
from outagewatch.store import samples as sample_store
from outagewatch.store.migrate import upgrade

from .test_store import T0, row

HOUR = timedelta(hours=1)


async def test_rolled_up_and_raw_hours_from_any_vantage(engine: AsyncEngine) -> None:
    await upgrade(engine)
    async with engine.begin() as conn:
        # 10:00 from fra, rolled up; 11:00 nothing at all; 12:xx raw from nyc only, twice.
        await sample_store.insert_samples(conn, [row(60, bad=False), row(120, bad=True)])
        await sample_store.roll_up_hour(conn, T0)
        await sample_store.expire(conn, T0 + 30 * 24 * HOUR, raw=HOUR, rolled=400 * 24 * HOUR)
        late = [row(2 * 3600 + 5, bad=False, vantage="nyc"), row(2 * 3600 + 1800, bad=True)]
        await sample_store.insert_samples(conn, late)
    found = await measured_hours(engine, T0 - 5 * HOUR, T0 + 5 * HOUR)
    assert found == [
        MeasuredHour("eu-de-1", "imap", T0),
        MeasuredHour("eu-de-1", "imap", T0 + 2 * HOUR),
    ]
    assert all(m.hour.tzinfo is not None for m in found)
    # The window is [start, end), with the hour a month in a half-hour zone begins inside.
    assert await measured_hours(engine, T0 + timedelta(minutes=30), T0 + HOUR) == [
        MeasuredHour("eu-de-1", "imap", T0)
    ]
    # (the report clips each hour to the month: one before the start does no harm)
    assert await measured_hours(engine, T0 + 4 * HOUR, T0 + 5 * HOUR) == []
