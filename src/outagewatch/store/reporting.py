"""Reading a month of history for ``outagewatch report``: transitions, incidents, the
customer mails they sent, and the hourly roll-ups (raw samples may have expired)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.reporting.record import IncidentFacts, Outage, Rollup
from outagewatch.store.tables import incidents, notifications, rollups, transitions


async def outages(engine: AsyncEngine, start: datetime, end: datetime) -> list[Outage]:
    """Service-level outages that overlap [start, end)."""
    query = select(
        transitions.c.platform, transitions.c.service, transitions.c.kind,
        transitions.c.started_at, transitions.c.at,
    ).where(transitions.c.vantage == "*", transitions.c.started_at < end)  # fmt: skip
    opened: dict[tuple[str, str, datetime], datetime | None] = {}
    async with engine.connect() as conn:
        for platform, service, kind, started_at, at in await conn.execute(query):
            key = (platform, service, started_at)
            if kind == "opened":
                opened.setdefault(key, None)
            else:
                opened[key] = at
    return [
        Outage(platform, service, started_at, restored_at)
        for (platform, service, started_at), restored_at in opened.items()
        if restored_at is None or restored_at > start
    ]


async def incident_facts(
    engine: AsyncEngine, start: datetime, end: datetime, cadence: dict[str, timedelta]
) -> list[IncidentFacts]:
    found = []
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(incidents)
            .where(
                incidents.c.opened_at >= start,
                incidents.c.opened_at < end,
                incidents.c.platform.in_(list(cadence)),  # the platforms asked for
            )
            .order_by(incidents.c.id)
        )
        for row in rows.mappings().all():
            mails = await conn.execute(
                select(notifications.c.kind, notifications.c.sent_at)
                .where(
                    notifications.c.incident_id == row["id"],
                    notifications.c.audience == "customer",
                )
                .order_by(notifications.c.id)
            )
            every = row["update_every"]
            found.append(
                IncidentFacts(
                    ref=row["ref"],
                    platform=row["platform"],
                    opened_at=row["opened_at"],
                    started_at=row["started_at"],
                    acknowledged_at=row["acknowledged_at"],
                    restored_at=row["restored_at"],
                    cadence=timedelta(seconds=every) if every else cadence[row["platform"]],
                    customer_mails=tuple((kind, sent) for kind, sent in mails),
                )
            )
    return found


async def hourly(engine: AsyncEngine, start: datetime, end: datetime) -> list[Rollup]:
    query = select(
        rollups.c.platform, rollups.c.service, rollups.c.count, rollups.c.bad_count,
        rollups.c.p95, rollups.c.max,
    ).where(rollups.c.hour >= start, rollups.c.hour < end)  # fmt: skip
    async with engine.connect() as conn:
        return [Rollup(*row) for row in await conn.execute(query)]
