"""Bytes per stored sample, on SQLite and on PostgreSQL.

Writes ``SAMPLES`` samples of ``SERVICES`` HTTP services through the store's own
``insert_samples`` (in the daemon's batch size), as a day of probing does: mostly good
samples with "GET 200", one in fifty failed or slow. Then measures what the samples cost:
SQLite, the pages of the samples table and its indexes (dbstat) as written and after
VACUUM; PostgreSQL,
``pg_total_relation_size`` of the samples table (heap, indexes, TOAST, free-space and
visibility maps) after VACUUM. The per-series dictionary (one row per service and vantage)
is counted too, shared out over the samples. Size is deterministic, so tests assert it as
well (tests/store/test_storage_size.py); this reports it beside the other figures.

Run alone: ``python -m bench.storage [--samples N] [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade
from outagewatch.store.samples import SampleRow, insert_samples

SERVICES = 1_000
SAMPLES = 50_000
BATCH = 1_000  # the sample writer's MAX_BATCH
INTERVAL = timedelta(seconds=30)
T0 = datetime(2026, 11, 30, tzinfo=UTC)
POSTGRES_URL = os.environ.get(
    "OUTAGEWATCH_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SAMPLE_TABLES = ("samples", "series")


@dataclass(frozen=True)
class StorageFigure:
    dialect: str
    samples: int
    total_bytes: int

    @property
    def per_sample(self) -> float:
        return self.total_bytes / self.samples


def day_of_samples(count: int, services: int = SERVICES, seed: int = 13) -> list[SampleRow]:
    """``count`` samples round-robin over ``services``, every 30 s, as the probes make them."""
    rng = random.Random(seed)  # noqa: S311 - reproducible figures, not secrets
    rows = []
    for n in range(count):
        service, round_ = n % services, n // services
        started = T0 + round_ * INTERVAL + timedelta(milliseconds=(service * 29) % 30_000)
        roll = rng.random()
        if roll < 0.01:  # failed
            result = ProbeResult(
                started, rng.uniform(0.001, 0.01), False, ErrorKind.REFUSED,
                {"dns": rng.uniform(0, 0.001), "connect": rng.uniform(0, 0.01)},
                "connection refused (during connect)",
            )  # fmt: skip
        else:
            duration = rng.uniform(31, 40) if roll < 0.02 else rng.lognormvariate(-2.5, 0.6)
            phases = {"dns": duration * 0.05, "connect": duration * 0.25}
            phases |= {"first_byte": duration * 0.6, "body": duration * 0.1}
            result = ProbeResult(started, duration, True, None, phases, "GET 200")
        rows.append(SampleRow("eu-de-1", f"webmail-{service:05d}", "fra", result, roll < 0.02))
    return rows


async def write(engine: AsyncEngine, rows: Sequence[SampleRow]) -> None:
    for start in range(0, len(rows), BATCH):
        async with engine.begin() as conn:
            await insert_samples(conn, rows[start : start + BATCH])


async def sqlite_bytes(engine: AsyncEngine, vacuum: bool = False) -> int:
    async with engine.connect() as conn:
        if vacuum:
            await conn.execute(text("VACUUM"))
        names = await conn.execute(
            text(
                "SELECT name FROM sqlite_master WHERE tbl_name IN ('samples', 'series') "
                "AND type IN ('table', 'index')"
            )
        )
        wanted = [row[0] for row in names]
        total = 0
        for name in wanted:
            pages = await conn.scalar(
                text("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = :n"), {"n": name}
            )
            total += int(pages or 0)
        return total


async def postgres_bytes(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
        total = 0
        for name in SAMPLE_TABLES:
            exists = await conn.scalar(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name})
            if exists:
                total += int(
                    await conn.scalar(text("SELECT pg_total_relation_size(:n)"), {"n": name}) or 0
                )
        return total


async def measure_sqlite(count: int, directory: Path) -> list[StorageFigure]:
    """As written (what the file holds while the daemon runs), and after VACUUM."""
    engine = open_engine(f"sqlite+aiosqlite:///{directory / 'storage.db'}")
    try:
        await upgrade(engine)
        await write(engine, day_of_samples(count))
        written = StorageFigure("sqlite", count, await sqlite_bytes(engine))
        vacuumed = StorageFigure("sqlite, after VACUUM", count, await sqlite_bytes(engine, True))
        return [written, vacuumed]
    finally:
        await engine.dispose()


async def measure_postgres(count: int, url: str = POSTGRES_URL) -> StorageFigure | None:
    """None when no PostgreSQL answers at ``url``."""
    base = make_url(url)
    name = f"ow_bench_{uuid.uuid4().hex[:12]}"
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        engine = open_engine(base.set(database=name).render_as_string(hide_password=False))
        try:
            await upgrade(engine)
            await write(engine, day_of_samples(count))
            return StorageFigure("postgresql", count, await postgres_bytes(engine))
        finally:
            await engine.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def measure(count: int = SAMPLES, url: str = POSTGRES_URL) -> list[StorageFigure]:
    with tempfile.TemporaryDirectory(prefix="outagewatch-storage-") as directory:
        figures = await measure_sqlite(count, Path(directory))
    postgres = await measure_postgres(count, url)
    return figures if postgres is None else [*figures, postgres]


def render(figures: Sequence[StorageFigure]) -> str:
    lines = [f"storage per sample ({SERVICES:,} HTTP services, samples table + indexes + series)"]
    for figure in figures:
        lines.append(
            f"  {figure.dialect:<21} {figure.per_sample:6.1f} bytes/sample"
            f"  ({figure.total_bytes / 1e6:.1f} MB for {figure.samples:,} samples)"
        )
    if not any(f.dialect == "postgresql" for f in figures):
        lines.append("  postgresql            not measured (no PostgreSQL answers)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.storage", description=__doc__)
    parser.add_argument("--samples", type=int, default=SAMPLES)
    parser.add_argument("--postgres", default=POSTGRES_URL, help="a PostgreSQL to measure on")
    args = parser.parse_args(argv)
    print(render(asyncio.run(measure(args.samples, args.postgres))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
