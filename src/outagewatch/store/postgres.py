"""What PostgreSQL needs: a pool that notices connections a failover killed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncEngine


def prepare(engine: AsyncEngine) -> None:
    """Nothing to set per connection: UTC timestamps are timestamptz already."""


def engine_options() -> dict[str, Any]:
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5}


def hour_of(column: ColumnElement[datetime]) -> ColumnElement[Any]:
    """The UTC hour a timestamp falls in, whatever the session's TimeZone (a naive UTC
    timestamp: date_trunc on timestamptz would cut at the session zone's hours)."""
    return func.date_trunc("hour", func.timezone("UTC", column))
