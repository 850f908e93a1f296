"""What SQLite needs that PostgreSQL does not: WAL, a busy timeout, foreign keys on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Table, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outagewatch.store.tables import EPOCH, MILLISECOND, NewSample, StoredSample


def prepare(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the API read while the daemon writes a batch; the busy timeout rides
        # out a checkpoint instead of failing with "database is locked".
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def engine_options() -> dict[str, Any]:
    return {}


def insert_ignoring_duplicates(table: Table) -> Insert:
    return sqlite_insert(table).on_conflict_do_nothing()


INSERT_SAMPLES = """INSERT INTO samples
    (started_at, series_id, duration, bad, error_kind, detail, phases)
    VALUES (?, ?, ?, ?, ?, ?, ?)"""
# A series' newest sample: the greatest start, then the greatest id, found in the index on
# (series_id, started_at), which holds the rowid too.
MOVE_NEWEST = """UPDATE series SET newest_started_at = ?2, newest_id =
    (SELECT max(id) FROM samples WHERE series_id = ?1 AND started_at = ?2)
    WHERE id = ?1 AND (newest_started_at IS NULL OR newest_started_at <= ?2)"""


async def insert_samples(conn: AsyncConnection, stored: list[StoredSample]) -> None:
    """Two statements for the batch, each run over every row in one call to SQLite, on
    aiosqlite's own connection (SQLAlchemy's cursor took a trip to its thread more each),
    within the transaction of ``conn``."""
    newest: dict[int, int] = {}
    for started_at, series_id, *_ in stored:
        newest[series_id] = max(started_at, newest.get(series_id, started_at))
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    async with driver.executemany(INSERT_SAMPLES, stored):
        pass
    async with driver.executemany(MOVE_NEWEST, list(newest.items())):
        pass


# The id is the rowid: the samples after an id are a range of the table's own B-tree, and
# need no upper bound (PostgreSQL's do).
SAMPLES_AFTER = """SELECT samples.id, series.platform, series.service, series.vantage,
    samples.started_at, samples.bad, samples.duration, samples.error_kind, samples.detail
    FROM samples JOIN series ON samples.series_id = series.id
    WHERE samples.id > ? ORDER BY samples.id LIMIT ?"""


async def samples_after(conn: AsyncConnection, low_id: int, limit: int) -> list[NewSample]:
    """In one call to aiosqlite's thread, where SQLAlchemy's cursor took four (the leader
    reads after every batch); the values converted as EpochMillis and Boolean would."""
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    rows = await driver.execute_fetchall(SAMPLES_AFTER, (low_id, limit))
    return [
        (i, p, s, v, EPOCH + at * MILLISECOND, bool(bad), ms / 1000, kind is not None, detail)
        for i, p, s, v, at, bad, ms, kind, detail in rows
    ]


# What migration 0006 (compact samples) does differently here. Frozen with that migration:
# change these only together with a new one.
COMPACT_SAMPLES_0006 = [
    # INTEGER PRIMARY KEY: the id is the rowid, stored once, with no index of its own.
    """CREATE TABLE samples_compact (
        id INTEGER NOT NULL PRIMARY KEY,
        started_at BIGINT NOT NULL, series_id INTEGER NOT NULL, duration INTEGER NOT NULL,
        bad BOOLEAN NOT NULL, error_kind SMALLINT, detail VARCHAR(256), phases JSON
    )""",
]
SAMPLE_INDEXES_0006 = [
    "CREATE INDEX ix_samples_series_time ON samples (series_id, started_at)",
    "CREATE INDEX ix_samples_time ON samples (started_at)",
    # Each series' newest sample, one index probe per series.
    """UPDATE series SET newest_started_at =
        (SELECT max(started_at) FROM samples WHERE series_id = series.id)""",
    """UPDATE series SET newest_id = (SELECT max(id) FROM samples
        WHERE series_id = series.id AND started_at = series.newest_started_at)""",
]


def millis_of_timestamp_0006(column: str) -> str:
    """SQLAlchemy kept "YYYY-MM-DD HH:MM:SS.ffffff" (naive UTC) here."""
    seconds = f"CAST(strftime('%s', substr({column}, 1, 19)) AS INTEGER)"
    return f"({seconds} * 1000 + CAST(substr({column}, 21, 3) AS INTEGER))"


def timestamp_of_millis_0006(column: str) -> str:
    whole = f"strftime('%Y-%m-%d %H:%M:%S', {column} / 1000, 'unixepoch')"
    return f"({whole} || '.' || printf('%03d', {column} % 1000) || '000')"
