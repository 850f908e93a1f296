"""CPU seconds per 1,000 samples of the store's share of a sample's life, per backend.

A sample is written as the daemon writes it (a batch through the writer's series cache
and ``insert_samples``, one transaction) and read back as the leader reads it
(``samples_after``, the reader's READ_BATCH ids at a time). CPU is ``time.process_time``:
every thread of the process, so SQLite's work in aiosqlite's thread counts too; the
database server's (PostgreSQL) does not. Each figure is the median of ``--runs`` runs on a
fresh database.

Run alone: ``python -m bench.store_cpu [--samples N] [--batch N]... [--runs N] [--postgres URL]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.storage import POSTGRES_URL, SERVICES, day_of_samples
from outagewatch.detection.sample_reader import READ_BATCH
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade
from outagewatch.store.samples import SampleRow, insert_samples, samples_after
from outagewatch.store.series import SeriesCache


async def write_and_read(
    engine: AsyncEngine, rows: Sequence[SampleRow], batch: int
) -> tuple[float, float]:
    """CPU seconds per 1,000 samples: writing them, reading them back. Rounds as the
    detector's loop makes them: a batch written, then read until nothing new is there."""
    cache = SeriesCache(engine)
    # The series exist already in a running daemon: resolving them is not per-sample work.
    await cache.series_for((row.key, row.good_detail) for row in rows[:SERVICES])
    wrote = read = 0.0
    low = count = 0
    for start in range(0, len(rows), batch):
        before = time.process_time()
        chunk = rows[start : start + batch]
        known = await cache.series_for((row.key, row.good_detail) for row in chunk)
        async with engine.begin() as conn:
            await insert_samples(conn, chunk, known)
        between = time.process_time()
        while True:
            async with engine.connect() as conn:
                found = await samples_after(conn, low, READ_BATCH)
            if not found:
                break
            count += len(found)
            low = found[-1][0]
        wrote, read = wrote + between - before, read + time.process_time() - between
    assert count == len(rows), (count, len(rows))
    return wrote * 1000 / len(rows), read * 1000 / len(rows)


async def sqlite_run(rows: Sequence[SampleRow], batch: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as directory:
        engine = open_engine(f"sqlite+aiosqlite:///{Path(directory) / 'cpu.db'}")
        try:
            await upgrade(engine)
            return await write_and_read(engine, rows, batch)
        finally:
            await engine.dispose()


async def postgres_run(rows: Sequence[SampleRow], batch: int, url: str) -> tuple[float, float]:
    base = make_url(url)
    name = f"ow_bench_{uuid.uuid4().hex[:12]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin, timeout=5)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    engine = open_engine(base.set(database=name).render_as_string(hide_password=False))
    try:
        await upgrade(engine)
        return await write_and_read(engine, rows, batch)
    finally:
        await engine.dispose()
        conn = await asyncpg.connect(admin, timeout=5)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def main(samples: int, batches: list[int], runs: int, url: str | None) -> None:
    rows = day_of_samples(samples)
    for batch in batches:
        for backend in ["sqlite", "postgresql"] if url else ["sqlite"]:
            figures = []
            for _ in range(runs):
                if url and backend == "postgresql":
                    figures.append(await postgres_run(rows, batch, url))
                else:
                    figures.append(await sqlite_run(rows, batch))
            write = statistics.median(f[0] for f in figures)
            read = statistics.median(f[1] for f in figures)
            spread = " ".join(f"{w + r:.3f}" for w, r in figures)
            print(
                f"batch {batch:>5} {backend:<10} CPU s per 1,000 samples: write {write:.3f}, "
                f"read {read:.3f}, together {write + read:.3f} (runs: {spread})",
                flush=True,
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument(
        "--batch", type=int, action="append", help="samples per round (default: 10 and 1,000)"
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default=POSTGRES_URL, help="'' to skip PostgreSQL")
    args = parser.parse_args()
    asyncio.run(main(args.samples, args.batch or [10, 1000], args.runs, args.postgres or None))
