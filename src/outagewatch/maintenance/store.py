"""Maintenance windows: stored with a version for compare-and-set, like incidents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.maintenance.decisions import Maintenance
from outagewatch.store.tables import maintenances

_FIELDS = (
    "ref", "platform", "kind", "state", "starts_at", "ends_at", "expected_impact",
    "announced_at", "announced_by", "successful", "outcome_note", "finished_at", "finished_by",
)  # fmt: skip


def _values(window: Maintenance) -> dict[str, Any]:
    return {**{name: getattr(window, name) for name in _FIELDS}, "services": list(window.services)}


class Stored:
    def __init__(self, row: Any) -> None:
        data = dict(row._mapping)
        self.maintenance = Maintenance(
            id=data["id"], services=tuple(data["services"]), **{n: data[n] for n in _FIELDS}
        )
        self.version: int = data["version"]
        self.mails_sent: int = data["mails_sent"]


async def next_ref(conn: AsyncConnection, now: datetime) -> str:
    prefix = f"MW-{now:%Y%m%d}-"
    count = await conn.scalar(select(func.count()).where(maintenances.c.ref.like(f"{prefix}%")))
    return f"{prefix}{(count or 0) + 1:04d}"


async def insert_window(conn: AsyncConnection, window: Maintenance) -> int:
    result = await conn.execute(
        insert(maintenances).values(**_values(window), version=1, mails_sent=0)
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def save(conn: AsyncConnection, stored: Stored, window: Maintenance, mails: int) -> bool:
    result = await conn.execute(
        update(maintenances)
        .where(maintenances.c.id == window.id, maintenances.c.version == stored.version)
        .values(**_values(window), version=stored.version + 1, mails_sent=stored.mails_sent + mails)
    )
    return result.rowcount == 1


async def load(conn: AsyncConnection, window_id: int) -> Stored | None:
    row = (await conn.execute(select(maintenances).where(maintenances.c.id == window_id))).first()
    return Stored(row) if row is not None else None


async def by_ref(conn: AsyncConnection, ref: str) -> Stored | None:
    row = (await conn.execute(select(maintenances).where(maintenances.c.ref == ref))).first()
    return Stored(row) if row is not None else None


async def listing(
    conn: AsyncConnection, platform: str | None = None, state: str | None = None
) -> list[Maintenance]:
    query = select(maintenances).order_by(maintenances.c.starts_at.desc(), maintenances.c.id)
    if platform is not None:
        query = query.where(maintenances.c.platform == platform)
    if state is not None:
        query = query.where(maintenances.c.state == state)
    return [Stored(row).maintenance for row in await conn.execute(query)]


async def listing_page(
    conn: AsyncConnection,
    platform: str | None,
    state: str | None,
    limit: int,
    after: tuple[datetime, int] | None,
) -> list[Maintenance]:
    """Up to ``limit`` windows, latest start first (then by id), after the window whose
    (start, id) is ``after``."""
    query = select(maintenances).order_by(maintenances.c.starts_at.desc(), maintenances.c.id)
    if platform is not None:
        query = query.where(maintenances.c.platform == platform)
    if state is not None:
        query = query.where(maintenances.c.state == state)
    if after is not None:
        starts, window_id = after
        query = query.where(
            (maintenances.c.starts_at < starts)
            | ((maintenances.c.starts_at == starts) & (maintenances.c.id > window_id))
        )
    return [Stored(row).maintenance for row in await conn.execute(query.limit(limit))]


async def open_windows(conn: AsyncConnection) -> list[Maintenance]:
    """Scheduled and in-progress windows: what the maintenance step may have to act on."""
    query = select(maintenances).where(maintenances.c.state.in_(("scheduled", "in_progress")))
    return [
        Stored(row).maintenance for row in await conn.execute(query.order_by(maintenances.c.id))
    ]


async def relevant_to_detection(
    conn: AsyncConnection, now: datetime, past: timedelta
) -> list[Maintenance]:
    """Every window that may still shape detection: not ended longer than ``past`` ago."""
    query = select(maintenances).where(
        or_(
            maintenances.c.state.in_(("scheduled", "in_progress")),
            maintenances.c.ends_at >= now - past,
        )
    )
    return [Stored(row).maintenance for row in await conn.execute(query)]
