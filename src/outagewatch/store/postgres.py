"""What PostgreSQL needs: a pool that notices connections a failover killed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine


def prepare(engine: AsyncEngine) -> None:
    """Nothing to set per connection: UTC timestamps are timestamptz already."""


def engine_options() -> dict[str, Any]:
    return {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 5}
