"""Storage behaviour, identical on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.detection import transitions as transition_store
from outagewatch.detection.rule import Opened, Restored
from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.store import samples as sample_store
from outagewatch.store.migrate import current_revision, head_revision, upgrade
from outagewatch.store.samples import SampleRow
from outagewatch.store.tables import metadata

from .wide_samples import insert_wide

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def row(seconds: int, *, bad: bool, duration: float = 0.2, vantage: str = "fra") -> SampleRow:
    result = ProbeResult(
        started_at=T0 + timedelta(seconds=seconds),
        duration=duration,
        ok=not bad,
        error_kind=ErrorKind.TIMEOUT if bad else None,
        phases={"connect": duration / 2, "banner": duration / 2},
        detail="x",
    )
    return SampleRow("eu-de-1", "imap", vantage, result, bad)


async def tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_upgrade_from_empty(engine: AsyncEngine) -> None:
    assert await current_revision(engine) is None
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    assert {"samples", "transitions", "rollups_hourly"} <= await tables(engine)
    await upgrade(engine)  # idempotent: a second start changes nothing


async def test_upgrade_from_the_previous_revision_keeps_data(engine: AsyncEngine) -> None:
    await upgrade(engine, "0001")
    assert "rollups_hourly" not in await tables(engine)
    async with engine.begin() as conn:
        await insert_wide(conn, [row(0, bad=True)])
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    async with engine.connect() as conn:
        found = await sample_store.observations_since(conn, "eu-de-1", "imap", T0 - timedelta(1))
    assert found == {"fra": [(T0, True)]}


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    await upgrade(engine)
    return engine


async def test_samples_round_trip_as_aware_utc_observations(db: AsyncEngine) -> None:
    rows = [row(t, bad=t >= 60) for t in range(0, 150, 30)] + [row(15, bad=False, vantage="nyc")]
    async with db.begin() as conn:
        await sample_store.insert_samples(conn, rows)
    async with db.connect() as conn:
        found = await sample_store.observations_since(conn, "eu-de-1", "imap", T0)
        assert await sample_store.latest_sample_time(conn) == T0 + timedelta(seconds=120)
    assert found["fra"] == [(T0 + timedelta(seconds=t), t >= 60) for t in (30, 60, 90, 120)]
    assert found["nyc"] == [(T0 + timedelta(seconds=15), False)]
    assert found["fra"][0][0].tzinfo is not None


async def test_transitions_are_written_once(db: AsyncEngine) -> None:
    opened = Opened(started_at=T0, detected_at=T0 + timedelta(minutes=15))
    restored = Restored(T0, T0 + timedelta(minutes=20), T0 + timedelta(minutes=20, seconds=30))
    async with db.begin() as conn:
        assert await transition_store.record(conn, "eu-de-1", "imap", "*", opened, T0)
        assert not await transition_store.record(conn, "eu-de-1", "imap", "*", opened, T0)
        assert await transition_store.last_event(conn, "eu-de-1", "imap", "*") == opened
        assert await transition_store.record(conn, "eu-de-1", "imap", "*", restored, T0)
        assert await transition_store.last_event(conn, "eu-de-1", "imap", "*") == restored
        assert await transition_store.last_event(conn, "eu-de-1", "pop3", "*") is None


async def test_hourly_roll_up_and_retention(db: AsyncEngine) -> None:
    durations = [0.1 * (i + 1) for i in range(20)]
    rows = [row(i * 60, bad=i >= 18, duration=d) for i, d in enumerate(durations)]
    async with db.begin() as conn:
        await sample_store.insert_samples(conn, rows)
        assert await sample_store.roll_up_hour(conn, T0) == 1
        assert await sample_store.roll_up_hour(conn, T0) == 1  # re-running replaces
        summary = (await conn.execute(sample_store.rollups.select())).mappings().one()
    assert summary["count"] == 20 and summary["bad_count"] == 2
    assert summary["max"] == pytest.approx(2.0)
    # Within each bucket boundary, as the histogram's le counts (the report's latency SLO).
    assert summary["le_counts"] == {
        "0.25": 2, "1.0": 10, "5.0": 20, "10.0": 20, "30.0": 20, "60.0": 20,
    }  # fmt: skip
    assert summary["p50"] == pytest.approx(1.05)
    assert summary["p95"] == pytest.approx(1.905)
    async with db.begin() as conn:
        raw, rolled = await sample_store.expire(
            conn, T0 + timedelta(days=15), raw=timedelta(days=14), rolled=timedelta(days=400)
        )
    assert (raw, rolled) == (20, 0)


async def test_upgrade_from_0002_adds_incidents_and_outbox(engine: AsyncEngine) -> None:
    await upgrade(engine, "0002")
    async with engine.begin() as conn:
        await insert_wide(conn, [row(0, bad=True)])
    await upgrade(engine)
    assert {"incidents", "incident_events", "notifications"} <= await tables(engine)
    async with engine.connect() as conn:
        columns = await conn.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("transitions")}
        )
    assert "processed_at" in columns


async def test_migrations_build_exactly_the_tables_the_code_uses(engine: AsyncEngine) -> None:
    await upgrade(engine)
    # The indexes of samples differ per dialect on purpose (test_compact_samples checks them).
    opts = {"include_object": lambda obj, name, kind, *_: not _sample_index(obj, kind)}
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync, opts=opts), metadata)
        )
    assert diff == []


def _sample_index(obj: Any, kind: str) -> bool:
    return kind == "index" and obj.table.name == "samples"
