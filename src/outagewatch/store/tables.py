"""The tables, in SQLAlchemy Core. Their history lives in migrations/versions/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite would hand back naive datetimes)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware, got {value!r}")
        utc: datetime = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


samples = Table(
    "samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(64), nullable=False),
    Column("service", String(64), nullable=False),
    Column("vantage", String(64), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("duration", Float, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("bad", Boolean, nullable=False),
    Column("error_kind", String(16)),
    Column("phases", JSON, nullable=False),
    Column("detail", String(256), nullable=False),
    Index("ix_samples_service_time", "platform", "service", "vantage", "started_at"),
    Index("ix_samples_time", "started_at"),
)

# Service state changes as immutable rows: one "opened" and at most one "restored" per
# outage. ``vantage`` is "*" for the service-level verdict across vantages (quorum).
transitions = Table(
    "transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(64), nullable=False),
    Column("service", String(64), nullable=False),
    Column("vantage", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("decided_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    UniqueConstraint("platform", "service", "vantage", "kind", "started_at", name="uq_transition"),
)

rollups = Table(
    "rollups_hourly",
    metadata,
    Column("platform", String(64), primary_key=True),
    Column("service", String(64), primary_key=True),
    Column("vantage", String(64), primary_key=True),
    Column("hour", UtcDateTime, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("bad_count", Integer, nullable=False),
    Column("p50", Float, nullable=False),
    Column("p95", Float, nullable=False),
    Column("max", Float, nullable=False),
)
