"""Service state transitions: immutable rows, written once (a unique key makes it idempotent)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.detection.rule import Event, Opened, Restored
from outagewatch.store.tables import transitions


async def record(
    conn: AsyncConnection, platform: str, service: str, vantage: str, event: Event, now: datetime
) -> bool:
    """Write the transition unless it is there already; True when it was new."""
    kind = "opened" if isinstance(event, Opened) else "restored"
    exists = await conn.scalar(
        select(transitions.c.id).where(
            transitions.c.platform == platform,
            transitions.c.service == service,
            transitions.c.vantage == vantage,
            transitions.c.kind == kind,
            transitions.c.started_at == event.started_at,
        )
    )
    if exists is not None:
        return False
    at = event.detected_at if isinstance(event, Opened) else event.restored_at
    await conn.execute(
        transitions.insert().values(
            platform=platform,
            service=service,
            vantage=vantage,
            kind=kind,
            started_at=event.started_at,
            at=at,
            decided_at=event.at,
            recorded_at=now,
        )
    )
    return True


async def last_event(
    conn: AsyncConnection, platform: str, service: str, vantage: str
) -> Event | None:
    row = (
        await conn.execute(
            select(
                transitions.c.kind,
                transitions.c.started_at,
                transitions.c.at,
                transitions.c.decided_at,
            )
            .where(
                transitions.c.platform == platform,
                transitions.c.service == service,
                transitions.c.vantage == vantage,
            )
            .order_by(transitions.c.decided_at.desc(), transitions.c.id.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else _event(*row)


async def last_events(conn: AsyncConnection) -> dict[tuple[str, str, str], Event]:
    """The newest transition of every (platform, service, vantage), in one query: what the
    detector's restore seeds its judgement with, for every service at once."""
    newest_first = func.row_number().over(
        partition_by=(transitions.c.platform, transitions.c.service, transitions.c.vantage),
        order_by=(transitions.c.decided_at.desc(), transitions.c.id.desc()),
    )
    ranked = select(
        transitions.c.platform, transitions.c.service, transitions.c.vantage,
        transitions.c.kind, transitions.c.started_at, transitions.c.at, transitions.c.decided_at,
        newest_first.label("rank"),
    ).subquery()  # fmt: skip
    query = select(*[c for c in ranked.c if c.name != "rank"]).where(ranked.c.rank == 1)
    return {(p, s, v): _event(*rest) for p, s, v, *rest in await conn.execute(query)}


def _event(kind: str, started_at: datetime, at: datetime, decided_at: datetime) -> Event:
    if kind == "opened":
        return Opened(started_at=started_at, detected_at=at)
    return Restored(started_at=started_at, restored_at=at, decided_at=decided_at)
