"""Samples written as the code of revisions 0005 to 0008 wrote them (one wide row each), to test the
migration to compact samples from today's schema with data."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.store.samples import SampleRow
from outagewatch.store.tables import UtcDateTime

wide_samples = sa.table(
    "samples",
    sa.column("id", sa.Integer),
    sa.column("platform", sa.String),
    sa.column("service", sa.String),
    sa.column("vantage", sa.String),
    sa.column("started_at", UtcDateTime),
    sa.column("duration", sa.Float),
    sa.column("ok", sa.Boolean),
    sa.column("bad", sa.Boolean),
    sa.column("error_kind", sa.String),
    sa.column("phases", sa.JSON),
    sa.column("detail", sa.String),
)


async def insert_wide(conn: AsyncConnection, rows: Sequence[SampleRow]) -> None:
    await conn.execute(
        sa.insert(wide_samples),
        [
            {
                "platform": r.platform,
                "service": r.service,
                "vantage": r.vantage,
                "started_at": r.result.started_at,
                "duration": r.result.duration,
                "ok": r.result.ok,
                "bad": r.bad,
                "error_kind": None if r.result.error_kind is None else str(r.result.error_kind),
                "phases": r.result.phases,
                "detail": r.result.detail[:256],
            }
            for r in rows
        ],
    )
