"""Which channel has heard of which incident (pager alerts and their dedup keys), and the
inbound webhook events already acted on."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.store.tables import channel_alerts, inbound_events

AlertState = Literal["new", "open", "closed"]


async def states(conn: AsyncConnection, incident_id: int) -> dict[str, AlertState]:
    """Each channel that has heard of the incident: open, or closed (resolved) already."""
    rows = await conn.execute(
        select(channel_alerts.c.channel, channel_alerts.c.closed_at).where(
            channel_alerts.c.incident_id == incident_id
        )
    )
    return {channel: ("open" if closed is None else "closed") for channel, closed in rows}


async def opened(
    conn: AsyncConnection, channel: str, incident_id: int, dedup_key: str, now: datetime
) -> None:
    await conn.execute(
        insert(channel_alerts).values(
            channel=channel, incident_id=incident_id, dedup_key=dedup_key, opened_at=now
        )
    )


async def closed(conn: AsyncConnection, channel: str, incident_id: int, now: datetime) -> None:
    c = channel_alerts.c
    await conn.execute(
        update(channel_alerts)
        .where(c.channel == channel, c.incident_id == incident_id, c.closed_at.is_(None))
        .values(closed_at=now)
    )


async def incident_of(conn: AsyncConnection, dedup_key: str, channels: Iterable[str]) -> int | None:
    """The incident a pager alert of one of ``channels`` was triggered for."""
    c = channel_alerts.c
    found = await conn.scalar(
        select(c.incident_id)
        .where(c.dedup_key == dedup_key, c.channel.in_(list(channels)))
        .order_by(c.id.desc())
        .limit(1)
    )
    return int(found) if found is not None else None


async def seen(conn: AsyncConnection, source: str, event_id: str) -> bool:
    """Whether an inbound event was acted on before (a replay, or the vendor's retry)."""
    c = inbound_events.c
    found = await conn.scalar(
        select(c.id).where(c.source == source, c.event_id == event_id).limit(1)
    )
    return found is not None


async def remember(conn: AsyncConnection, source: str, event_id: str, now: datetime) -> None:
    """Record an inbound event as acted on; a concurrent copy that won the race is fine."""
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(inbound_events).values(source=source, event_id=event_id, received_at=now)
            )
    except IntegrityError:
        pass
