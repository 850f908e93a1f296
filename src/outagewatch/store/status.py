"""Reads for the public status page: which hours were measured, the outages, the incidents
of the last days and the customer mails they sent (exactly as they were mailed)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.incidents.decisions import Incident
from outagewatch.store.incidents import Stored
from outagewatch.store.tables import (
    incidents,
    notifications,
    rollups,
    samples,
    series,
    transitions,
)

Interval = tuple[datetime, datetime | None]


async def rollup_signature(
    conn: AsyncConnection, platform: str, since: datetime
) -> tuple[datetime | None, int]:
    """The newest rolled-up hour and the number of roll-ups since ``since``: unchanged, so
    are the roll-ups (the housekeeper writes them once an hour)."""
    query = select(func.max(rollups.c.hour), func.count()).where(
        rollups.c.platform == platform, rollups.c.hour >= since
    )
    row = (await conn.execute(query)).one()
    return row[0], int(row[1])


async def rolled_hours(
    conn: AsyncConnection, platform: str, since: datetime
) -> dict[str, set[datetime]]:
    """Per service, the hours whose roll-up holds samples (of any vantage)."""
    hours: dict[str, set[datetime]] = {}
    query = (
        select(rollups.c.service, rollups.c.hour)
        .distinct()
        .where(rollups.c.platform == platform, rollups.c.hour >= since, rollups.c.count > 0)
    )
    for service, hour in await conn.execute(query):
        hours.setdefault(service, set()).add(hour)
    return hours


async def raw_tails(conn: AsyncConnection, platform: str, after: datetime) -> dict[str, datetime]:
    """Per service, the first raw sample at or after ``after``: where the samples not yet
    rolled up begin (the current hour, and any the housekeeper has still to summarise)."""
    query = (
        select(series.c.service, func.min(samples.c.started_at))
        .join_from(samples, series, series.c.id == samples.c.series_id)
        .where(series.c.platform == platform, samples.c.started_at >= after)
        .group_by(series.c.service)
    )
    return {service: first for service, first in await conn.execute(query) if first is not None}


async def outages(
    conn: AsyncConnection, platform: str, since: datetime, level: str = "*"
) -> dict[str, list[Interval]]:
    """Service-level outages (across vantages) still running at or after ``since``; with
    ``level`` "*~degraded", the periods of the degraded tier instead."""
    query = select(
        transitions.c.service, transitions.c.kind, transitions.c.started_at, transitions.c.at
    ).where(transitions.c.platform == platform, transitions.c.vantage == level)
    opened: dict[tuple[str, datetime], datetime | None] = {}
    for service, kind, started_at, at in await conn.execute(query.order_by(transitions.c.id)):
        if kind == "opened":
            opened.setdefault((service, started_at), None)
        else:
            opened[(service, started_at)] = at
    found: dict[str, list[Interval]] = {}
    for (service, started_at), restored_at in sorted(opened.items()):
        if restored_at is None or restored_at >= since:
            found.setdefault(service, []).append((started_at, restored_at))
    return found


async def customer_mails(
    conn: AsyncConnection, incident_ids: Sequence[int]
) -> dict[int, list[dict[str, Any]]]:
    """The customer mails of these incidents that went out, oldest first."""
    if not incident_ids:
        return {}
    query = (
        select(
            notifications.c.incident_id, notifications.c.kind, notifications.c.subject,
            notifications.c.body_text, notifications.c.sent_at,
        )
        .where(
            notifications.c.incident_id.in_(list(incident_ids)),
            notifications.c.audience == "customer",
            notifications.c.channel == "mail",
            notifications.c.state == "sent",
        )
        .order_by(notifications.c.id)
    )  # fmt: skip
    found: dict[int, list[dict[str, Any]]] = {}
    for row in await conn.execute(query):
        found.setdefault(row.incident_id, []).append(dict(row._mapping))
    return found


async def incidents_since(conn: AsyncConnection, platform: str, since: datetime) -> list[Incident]:
    """The platform's incidents still open, or restored at or after ``since``; newest first."""
    query = (
        select(incidents)
        .where(
            incidents.c.platform == platform,
            (incidents.c.restored_at.is_(None)) | (incidents.c.restored_at >= since),
        )
        .order_by(incidents.c.id.desc())
    )
    return [Stored(row).incident for row in await conn.execute(query)]
