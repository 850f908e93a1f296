"""Compact samples (migration 0009): every old sample reads back equal within the new
precision, the queries answer as before, and a sample costs under 100 bytes, on SQLite and on
the real PostgreSQL alike."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from alembic import command
from bench import storage
from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.store import samples as sample_store
from outagewatch.store.migrate import _alembic, current_revision, head_revision, upgrade
from outagewatch.store.samples import SampleRow
from outagewatch.store.tables import EPOCH, MILLISECOND, to_millis

from .test_store import T0
from .wide_samples import insert_wide, wide_samples

SERVICES = ("imap", "webmail", "smtp")
VANTAGES = ("fra", "nyc")


def history(count: int = 600, seed: int = 6) -> list[SampleRow]:
    """A mixed history as revision 0008 stored it: good samples with their routine detail and
    now and then another one, slow ones, failures of every kind, microsecond start times."""
    rng = random.Random(seed)
    kinds = list(ErrorKind)
    rows = []
    for n in range(count):
        service, vantage = SERVICES[n % 3], VANTAGES[(n // 3) % 2]
        started = T0 + timedelta(seconds=30 * (n // 6), microseconds=rng.randrange(10**6))
        duration = rng.uniform(0.0001, 45)
        phases = {"dns": duration * 0.1, "connect": duration * 0.3, "command": duration * 0.6}
        roll = rng.random()
        if roll < 0.15:
            kind = rng.choice(kinds)
            result = ProbeResult(started, duration, False, kind, phases, f"failed: {kind}")
        else:
            detail = "GET 200" if roll < 0.9 else f"{rng.randrange(9)} messages"
            result = ProbeResult(started, duration, True, None, phases, detail)
        rows.append(SampleRow("eu-de-1", service, vantage, result, not result.ok or duration > 30))
    return rows


def expected(row: SampleRow, sample_id: int) -> dict[str, Any]:
    """What a sample reads back as after the migration: times to the millisecond, phases of
    bad samples only."""
    result = row.result
    return {
        "id": sample_id,
        "platform": row.platform,
        "service": row.service,
        "vantage": row.vantage,
        "started_at": EPOCH + ((result.started_at - EPOCH) // MILLISECOND) * MILLISECOND,
        "duration": to_millis(result.duration) / 1000,
        "ok": result.ok,
        "bad": row.bad,
        "error_kind": None if result.error_kind is None else str(result.error_kind),
        "detail": result.detail,
        "phases": {k: to_millis(v) / 1000 for k, v in result.phases.items()} if row.bad else {},
    }


async def read_all(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        query = sample_store.readable().order_by(sample_store.samples.c.id)
        return [sample_store.as_dict(row) for row in await conn.execute(query)]


@dataclass
class Migrated:
    """A database upgraded from revision 0008 with ``rows`` stored there under ``ids``."""

    engine: AsyncEngine
    rows: list[SampleRow]
    ids: list[int]

    def pairs(self) -> list[tuple[SampleRow, int]]:
        return list(zip(self.rows, self.ids, strict=True))


@pytest.fixture
async def migrated(engine: AsyncEngine) -> Migrated:
    await upgrade(engine, "0008")
    rows = history()
    async with engine.begin() as conn:
        await insert_wide(conn, rows)
        ids = list(await conn.scalars(select(wide_samples.c.id).order_by(wide_samples.c.id)))
    await upgrade(engine)
    assert await current_revision(engine) == head_revision()
    return Migrated(engine, rows, ids)


async def test_every_sample_reads_back_equal(migrated: Migrated) -> None:
    assert await read_all(migrated.engine) == [expected(r, i) for r, i in migrated.pairs()]


async def test_detection_reads_the_same_observations(migrated: Migrated) -> None:
    since = T0 + timedelta(minutes=10)
    async with migrated.engine.connect() as conn:
        observed = await sample_store.observations_since(conn, "eu-de-1", "imap", T0)
        after = await sample_store.samples_after(conn, migrated.ids[100], 50)
        first = await sample_store.first_id_since(conn, since)
        assert await sample_store.max_sample_id(conn) == migrated.ids[-1]
    by_vantage: dict[str, list[tuple[datetime, bool]]] = {}
    for r in sorted(migrated.rows, key=lambda r: r.result.started_at):
        if r.service == "imap" and r.result.started_at > T0:
            at = expected(r, 0)["started_at"]
            by_vantage.setdefault(r.vantage, []).append((at, r.bad))
    assert observed == by_vantage
    assert [a[0] for a in after] == migrated.ids[101:151]
    assert first == min(i for r, i in migrated.pairs() if r.result.started_at > since) - 1


async def test_the_api_and_maintenance_see_the_same_newest_samples(migrated: Migrated) -> None:
    async with migrated.engine.connect() as conn:
        latest = await sample_store.latest_samples(conn)
        flags = await sample_store.last_bad_flags(conn, "eu-de-1", "webmail", 5)
        newest_start = await sample_store.latest_sample_time(conn)
    for key in {r.key for r in migrated.rows}:
        mine = [(r.result.started_at, i, r) for r, i in migrated.pairs() if r.key == key]
        _, newest_id, newest_row = max(mine, key=lambda m: (m[0], m[1]))
        assert latest[key] == expected(newest_row, newest_id)
    webmail = sorted(
        ((r.result.started_at, i, r.bad) for r, i in migrated.pairs() if r.service == "webmail"),
        reverse=True,
    )
    assert flags == [bad for _, _, bad in webmail[:5]]
    newest = max(migrated.rows, key=lambda r: r.result.started_at)
    assert newest_start == expected(newest, 0)["started_at"]


async def test_roll_ups_summarise_the_same_samples(migrated: Migrated) -> None:
    async with migrated.engine.begin() as conn:
        assert await sample_store.roll_up_hour(conn, T0) == len(SERVICES) * len(VANTAGES)
        summaries = (await conn.execute(sample_store.rollups.select())).mappings().all()
    for summary in summaries:
        key = (summary["platform"], summary["service"], summary["vantage"])
        mine = [
            r
            for r in migrated.rows
            if r.key == key and r.result.started_at < T0 + timedelta(hours=1)
        ]
        assert summary["count"] == len(mine)
        assert summary["bad_count"] == sum(r.bad for r in mine)
        assert summary["max"] == pytest.approx(max(r.result.duration for r in mine), abs=0.0006)


async def test_new_samples_continue_after_the_old_ids(migrated: Migrated) -> None:
    async with migrated.engine.begin() as conn:
        await sample_store.insert_samples(conn, migrated.rows[:1])
        assert await sample_store.max_sample_id(conn) > migrated.ids[-1]
    assert len(await read_all(migrated.engine)) == len(migrated.rows) + 1


async def test_the_migration_goes_back_down_with_the_data(engine: AsyncEngine) -> None:
    await upgrade(engine, "0008")
    rows = history(60)
    async with engine.begin() as conn:
        await insert_wide(conn, rows)
    await upgrade(engine)
    before = await read_all(engine)
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(_alembic(sync), "0008"))
    await upgrade(engine)
    assert await read_all(engine) == before


async def test_sample_indexes_are_the_dialects_own(engine: AsyncEngine) -> None:
    await upgrade(engine)
    async with engine.connect() as conn:
        found = await conn.run_sync(
            lambda sync: {
                i["name"]: i["column_names"] for i in inspect(sync).get_indexes("samples")
            }
        )
    if engine.dialect.name == "sqlite":
        assert found == {
            "ix_samples_series_time": ["series_id", "started_at"],
            "ix_samples_time": ["started_at"],
        }
    else:  # a B-tree on series_id only; BRIN on id and started_at (no primary-key B-tree)
        assert found == {
            "ix_samples_series": ["series_id"],
            "ix_samples_time": ["started_at"],
            "ix_samples_id": ["id"],
        }


SIZE_SERVICES, SIZE_SAMPLES = 200, 20_000  # a hundred rounds of 200 services


async def test_a_sample_costs_under_100_bytes(engine: AsyncEngine) -> None:
    """Size is deterministic: pages of the samples table, its indexes and the series table,
    as written (SQLite: no VACUUM) and after VACUUM (PostgreSQL: all relation forks)."""
    await upgrade(engine)
    await storage.write(engine, storage.day_of_samples(SIZE_SAMPLES, SIZE_SERVICES))
    if engine.dialect.name == "sqlite":
        total = await storage.sqlite_bytes(engine)
    else:
        total = await storage.postgres_bytes(engine)
    print(f"{engine.dialect.name}: {total / SIZE_SAMPLES:.1f} bytes per sample")
    assert total / SIZE_SAMPLES < 100


async def test_written_samples_read_back_equal_and_move_each_series_newest_up(
    engine: AsyncEngine,
) -> None:
    """insert_samples hands the backend values it converted itself: they read back as the
    column types would have stored them, and a series' newest is its greatest start, then
    its greatest id, whatever the order of the batches (a late, older sample moves nothing;
    an equal start written later does)."""
    await upgrade(engine)
    rows = history(300)
    late = rows[:60]  # older than the newest: must not become newest
    ties = rows[-12:] + rows[-6:]  # the newest starts again, later, and twice in a batch
    written = rows + late + ties
    for start in range(0, len(rows), 100):
        async with engine.begin() as conn:
            await sample_store.insert_samples(conn, rows[start : start + 100])
    for batch in (late, ties):
        async with engine.begin() as conn:
            await sample_store.insert_samples(conn, batch)
    stored = await read_all(engine)
    without_id = [{k: v for k, v in d.items() if k != "id"} for d in stored]
    wanted = [{k: v for k, v in expected(r, 0).items() if k != "id"} for r in written]
    assert sorted(without_id, key=repr) == sorted(wanted, key=repr)
    async with engine.connect() as conn:
        latest = await sample_store.latest_samples(conn)
        after = await sample_store.samples_after(conn, 0, len(written))
    assert [a[0] for a in after] == [d["id"] for d in stored]
    for key in {r.key for r in written}:
        mine = [d for d in stored if (d["platform"], d["service"], d["vantage"]) == key]
        assert latest[key] == max(mine, key=lambda d: (d["started_at"], d["id"]))
        assert latest[key]["id"] > max(d["id"] for d in stored[:300])  # one of the ties


async def test_a_batch_rolled_back_leaves_no_sample_and_no_newest(engine: AsyncEngine) -> None:
    """The backends write on the driver's own connection: still inside the caller's
    transaction."""
    await upgrade(engine)
    rows = history(12)
    async with engine.begin() as conn:
        await sample_store.insert_samples(conn, rows[:6])
    before = await read_all(engine)
    with pytest.raises(RuntimeError):
        async with engine.begin() as conn:
            await sample_store.insert_samples(conn, rows[6:])
            raise RuntimeError("the batch fails after its samples were written")
    assert await read_all(engine) == before
    async with engine.connect() as conn:
        latest = await sample_store.latest_samples(conn)
    assert sorted(d["id"] for d in latest.values()) == [d["id"] for d in before]
