"""What PostgreSQL needs: a pool that notices connections a failover killed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Insert, Integer, Table, bindparam, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outagewatch.store.tables import NewSample, StoredSample, samples, series


def prepare(engine: AsyncEngine) -> None:
    """Nothing to set per connection: UTC timestamps are timestamptz already."""


def engine_options() -> dict[str, Any]:
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5}


def insert_ignoring_duplicates(table: Table) -> Insert:
    return postgresql_insert(table).on_conflict_do_nothing()


# One round trip for a batch, and one statement text whatever its size (prepared once per
# connection): the samples as arrays, each series' newest (greatest start, then id) moved up
# from the ids the insert returns. The sequence hands out ids in no promised order.
INSERT_SAMPLES = """WITH stored AS (
        INSERT INTO samples (started_at, series_id, duration, bad, error_kind, detail, phases)
        SELECT s, i, d, b, e, t, CAST(p AS JSON) FROM unnest(
            $1::bigint[], $2::integer[], $3::integer[], $4::boolean[], $5::smallint[],
            $6::varchar[], $7::text[]) AS batch (s, i, d, b, e, t, p)
        RETURNING id, series_id, started_at
    ), newest AS (
        SELECT DISTINCT ON (series_id) series_id, started_at, id FROM stored
        ORDER BY series_id, started_at DESC, id DESC
    )
    UPDATE series SET newest_id = newest.id, newest_started_at = newest.started_at
    FROM newest WHERE series.id = newest.series_id
    AND (series.newest_started_at IS NULL OR series.newest_started_at <= newest.started_at)"""


async def insert_samples(conn: AsyncConnection, stored: list[StoredSample]) -> None:
    columns = tuple(list(column) for column in zip(*stored, strict=True))
    await conn.exec_driver_sql(INSERT_SAMPLES, columns)


# Built once (building a query cost more CPU than running it). Bounded above, so that the
# BRIN index on id reads ``limit`` rows, not all the rows after the lower bound (the whole
# backlog after a restore).
_AFTER = (
    select(
        samples.c.id, series.c.platform, series.c.service, series.c.vantage,
        samples.c.started_at, samples.c.bad, samples.c.duration,
        samples.c.error_kind.is_not(None), samples.c.detail,
    )
    .join_from(samples, series, samples.c.series_id == series.c.id)
    .where(samples.c.id > bindparam("low"), samples.c.id <= bindparam("high"))
    .order_by(samples.c.id)
    .limit(bindparam("limit", type_=Integer))
)  # fmt: skip
NO_BOUND = 2**63 - 1


async def samples_after(conn: AsyncConnection, low_id: int, limit: int) -> list[NewSample]:
    found = await conn.execute(_AFTER, {"low": low_id, "high": low_id + limit, "limit": limit})
    rows: list[NewSample] = [tuple(row) for row in found]
    if not rows:  # unbounded past a gap of ``limit`` ids (rolled back, or a restart's)
        found = await conn.execute(_AFTER, {"low": low_id, "high": NO_BOUND, "limit": limit})
        rows = [tuple(row) for row in found]
    return rows


# What migration 0006 (compact samples) does differently here. Frozen with that migration:
# change these only together with a new one.
COMPACT_SAMPLES_0006 = [
    # No primary-key B-tree on id: at ~22 bytes a sample it would be a fifth of the storage
    # budget. The sequence keeps ids unique; a BRIN index finds the newest ones (rows are
    # appended in id order), at a few bytes per thousand samples.
    """CREATE TABLE samples_compact (
        id BIGSERIAL NOT NULL,
        started_at BIGINT NOT NULL, series_id INTEGER NOT NULL, duration INTEGER NOT NULL,
        bad BOOLEAN NOT NULL, error_kind SMALLINT, detail VARCHAR(256), phases JSON
    )""",
]
SAMPLE_INDEXES_0006 = [
    # Writers move series.newest_* up with every batch: room on each page lets those be
    # heap-only updates, pruned in place, instead of dead rows and index entries piling up.
    "ALTER TABLE series SET (fillfactor = 30)",
    "SELECT setval('samples_compact_id_seq', coalesce(max(id), 0) + 1, false) FROM samples",
    "ALTER SEQUENCE samples_compact_id_seq RENAME TO samples_id_seq",
    "CREATE INDEX ix_samples_series ON samples (series_id)",
    "CREATE INDEX ix_samples_time ON samples USING brin (started_at)"
    " WITH (pages_per_range = 32, autosummarize = on)",
    "CREATE INDEX ix_samples_id ON samples USING brin (id)"
    " WITH (pages_per_range = 16, autosummarize = on)",
    # Each series' newest sample, in one pass over the samples.
    """UPDATE series SET newest_started_at = newest.started_at, newest_id = newest.id
    FROM (SELECT DISTINCT ON (series_id) series_id, started_at, id FROM samples
          ORDER BY series_id, started_at DESC, id DESC) AS newest
    WHERE newest.series_id = series.id""",
]


def millis_of_timestamp_0006(column: str) -> str:
    return f"floor(extract(epoch FROM {column}) * 1000)::bigint"


def timestamp_of_millis_0006(column: str) -> str:
    return f"to_timestamp({column} / 1000.0)"
