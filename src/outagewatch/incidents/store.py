"""Incidents, their timeline, and the service transitions they act on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.incidents.decisions import ACTIVE, Affected, Incident
from outagewatch.store.tables import incident_events, incidents, notifications, transitions

_FIELDS = (
    "ref", "platform", "state", "origin", "severity", "severity_overridden", "ticket",
    "user_impact", "etr", "opened_at", "acknowledged_at", "acknowledged_by", "restored_at",
    "closed_at", "last_customer_mail_at", "next_update_at", "updates_sent", "oncall_next_at",
)  # fmt: skip


def _values(incident: Incident) -> dict[str, Any]:
    values = {name: getattr(incident, name) for name in _FIELDS}
    values["started_at"] = incident.started_at
    values["update_every"] = (
        incident.update_every.total_seconds() if incident.update_every is not None else None
    )
    values["services"] = [
        {
            "service": a.service,
            "started_at": a.started_at.isoformat(),
            "restored_at": a.restored_at.isoformat() if a.restored_at else None,
            "reported": a.reported,
            "unmonitored_at": a.unmonitored_at.isoformat() if a.unmonitored_at else None,
        }
        for a in incident.services
    ]
    return values


def _incident(row: Any) -> Incident:
    data = dict(row._mapping)
    services = tuple(
        Affected(
            s["service"],
            datetime.fromisoformat(s["started_at"]),
            datetime.fromisoformat(s["restored_at"]) if s["restored_at"] else None,
            s["reported"],
            # Absent in rows written before services could be dropped by a reload.
            datetime.fromisoformat(s["unmonitored_at"]) if s.get("unmonitored_at") else None,
        )
        for s in data["services"]
    )
    every = data["update_every"]
    return Incident(
        id=data["id"],
        services=services,
        update_every=timedelta(seconds=every) if every is not None else None,
        **{name: data[name] for name in _FIELDS},
    )


class Stored:
    """An incident as read, with what the compare-and-set of its next write needs."""

    def __init__(self, row: Any) -> None:
        self.incident = _incident(row)
        self.version: int = row.version
        self.mails_sent: int = row.mails_sent


async def next_ref(conn: AsyncConnection, now: datetime) -> str:
    """Readable and sortable: OW-20261123-0007 is the seventh incident of that UTC day."""
    prefix = f"OW-{now:%Y%m%d}-"
    count = await conn.scalar(select(func.count()).where(incidents.c.ref.like(f"{prefix}%")))
    return f"{prefix}{(count or 0) + 1:04d}"


async def insert_incident(conn: AsyncConnection, incident: Incident) -> int:
    result = await conn.execute(
        insert(incidents).values(**_values(incident), version=1, mails_sent=0)
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def take(conn: AsyncConnection, stored: Stored) -> bool:
    """Claim the incident for a write before anything else is written (compare-and-set on
    its version): a concurrent writer then fails here, cleanly, instead of colliding on the
    Message-IDs both would enqueue."""
    result = await conn.execute(
        update(incidents)
        .where(incidents.c.id == stored.incident.id, incidents.c.version == stored.version)
        .values(version=stored.version + 1)
    )
    if result.rowcount != 1:
        return False
    stored.version += 1
    return True


async def save(conn: AsyncConnection, stored: Stored, incident: Incident, mails: int) -> bool:
    """Write the new state if nobody else changed it meanwhile (compare-and-set)."""
    result = await conn.execute(
        update(incidents)
        .where(incidents.c.id == incident.id, incidents.c.version == stored.version)
        .values(
            **_values(incident), version=stored.version + 1, mails_sent=stored.mails_sent + mails
        )
    )
    return result.rowcount == 1


async def load(conn: AsyncConnection, incident_id: int) -> Stored | None:
    row = (await conn.execute(select(incidents).where(incidents.c.id == incident_id))).first()
    return Stored(row) if row is not None else None


async def by_ref(conn: AsyncConnection, ref: str) -> Stored | None:
    row = (await conn.execute(select(incidents).where(incidents.c.ref == ref))).first()
    return Stored(row) if row is not None else None


async def active(conn: AsyncConnection, platform: str) -> Stored | None:
    row = (
        await conn.execute(
            select(incidents)
            .where(incidents.c.platform == platform, incidents.c.state.in_(ACTIVE))
            .order_by(incidents.c.id.desc())
            .limit(1)
        )
    ).first()
    return Stored(row) if row is not None else None


async def listing(conn: AsyncConnection, state: str | None = None) -> list[Incident]:
    query = select(incidents).order_by(incidents.c.id.desc())
    if state is not None:
        query = query.where(incidents.c.state == state)
    return [_incident(row) for row in await conn.execute(query)]


async def listing_page(
    conn: AsyncConnection, state: str | None, limit: int, before: int | None
) -> list[Incident]:
    """Up to ``limit`` incidents, newest first, older than the incident ``before``."""
    query = select(incidents).order_by(incidents.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(incidents.c.state == state)
    if before is not None:
        query = query.where(incidents.c.id < before)
    return [_incident(row) for row in await conn.execute(query)]


async def due(conn: AsyncConnection, now: datetime) -> list[int]:
    query = select(incidents.c.id).where(
        incidents.c.state.in_(ACTIVE),
        or_(incidents.c.next_update_at <= now, incidents.c.oncall_next_at <= now),
    )
    return [row[0] for row in await conn.execute(query.order_by(incidents.c.id))]


async def with_waiting_update(conn: AsyncConnection) -> list[int]:
    """Active incidents with a customer update still pending (not yet at the relay)."""
    n = notifications
    waiting = (
        select(n.c.id)
        .where(
            n.c.incident_id == incidents.c.id,
            n.c.audience == "customer",
            n.c.kind == "update",
            n.c.state == "pending",
        )
        .exists()
    )
    query = select(incidents.c.id).where(incidents.c.state.in_(ACTIVE), waiting)
    return [row[0] for row in await conn.execute(query.order_by(incidents.c.id))]


async def add_timeline(
    conn: AsyncConnection,
    incident_id: int,
    entries: tuple[tuple[str, str, dict[str, str]], ...],
    now: datetime,
) -> None:
    if entries:
        await conn.execute(
            insert(incident_events),
            [
                {"incident_id": incident_id, "at": now, "kind": k, "actor": a, "detail": d}
                for k, a, d in entries
            ],
        )


async def timeline(conn: AsyncConnection, incident_id: int) -> list[dict[str, Any]]:
    query = (
        select(incident_events)
        .where(incident_events.c.incident_id == incident_id)
        .order_by(incident_events.c.id)
    )
    return [dict(row._mapping) for row in await conn.execute(query)]


async def next_transition(conn: AsyncConnection, level: str = "*") -> dict[str, Any] | None:
    """The oldest service-level transition no decision has consumed yet (of the outage
    rule, or with ``level`` "*~degraded" of the degraded tier)."""
    row = (
        await conn.execute(
            select(transitions)
            .where(transitions.c.vantage == level, transitions.c.processed_at.is_(None))
            .order_by(transitions.c.decided_at, transitions.c.id)
            .limit(1)
        )
    ).first()
    return dict(row._mapping) if row is not None else None


async def mark_processed(conn: AsyncConnection, transition_id: int, now: datetime) -> bool:
    result = await conn.execute(
        update(transitions)
        .where(transitions.c.id == transition_id, transitions.c.processed_at.is_(None))
        .values(processed_at=now)
    )
    return result.rowcount == 1


async def notifications_of(
    conn: AsyncConnection, incident_id: int, limit: int | None = None, after: int = 0
) -> list[dict[str, Any]]:
    """The incident's notifications in the order they were made (``limit`` of them, after
    the notification ``after``)."""
    query = (
        select(notifications)
        .where(notifications.c.incident_id == incident_id, notifications.c.id > after)
        .order_by(notifications.c.id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in await conn.execute(query)]


async def open_counts(conn: AsyncConnection) -> dict[tuple[str, int], int]:
    query = (
        select(incidents.c.platform, incidents.c.severity, func.count())
        .where(incidents.c.state.in_(ACTIVE))
        .group_by(incidents.c.platform, incidents.c.severity)
    )
    return {(platform, severity): count for platform, severity, count in await conn.execute(query)}
