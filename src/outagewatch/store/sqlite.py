"""What SQLite needs that PostgreSQL does not: WAL, a busy timeout, foreign keys on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, event, func
from sqlalchemy.ext.asyncio import AsyncEngine


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


def hour_of(column: ColumnElement[datetime]) -> ColumnElement[Any]:
    """The UTC hour a timestamp falls in; SQLite keeps naive UTC text, so this is text."""
    return func.strftime("%Y-%m-%d %H:00:00", column)
