"""Reading a month of history for ``outagewatch report``: transitions, incidents, the
customer mails they sent, and the hourly roll-ups (raw samples may have expired)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.maintenance.store import Stored
from outagewatch.reporting.budgets import MaintenanceSpan
from outagewatch.reporting.record import IncidentFacts, MeasuredHour, Outage, Rollup
from outagewatch.store.tables import (
    EPOCH,
    incidents,
    maintenances,
    notifications,
    rollups,
    samples,
    series,
    transitions,
)

HOUR_MS = 3_600_000


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
        rollups.c.p95, rollups.c.max, rollups.c.hour, rollups.c.le_counts,
    ).where(rollups.c.hour >= start, rollups.c.hour < end)  # fmt: skip
    async with engine.connect() as conn:
        return [Rollup(*row) for row in await conn.execute(query)]


async def maintenance_spans(
    engine: AsyncEngine, start: datetime, end: datetime
) -> list[MaintenanceSpan]:
    """Per service, the time announced maintenance windows overlapping [start, end) held:
    from their start to their end, or to when they were finished or cancelled."""
    query = select(maintenances).where(
        maintenances.c.starts_at < end, maintenances.c.ends_at > start
    )
    async with engine.connect() as conn:
        windows = [Stored(row).maintenance for row in await conn.execute(query)]
    return [
        MaintenanceSpan(w.platform, service, span.start, span.end)
        for w in windows
        if (span := w.window()) is not None
        for service in w.services
    ]


async def measured_hours(engine: AsyncEngine, start: datetime, end: datetime) -> list[MeasuredHour]:
    """The hours in which a service has at least one sample from any vantage: rolled-up
    hours, and the hours of raw samples not rolled up yet (the last one or two). It may
    include the hour before ``start``; the report clips every hour to its month."""
    first = start - timedelta(hours=1)  # the hour a month in a half-hour zone begins inside
    # Samples keep epoch milliseconds (store/tables.py): whole-number division gives the
    # UTC hour the same way on every dialect.
    hour = type_coerce(samples.c.started_at, BigInteger()) // HOUR_MS
    raw = (
        select(series.c.platform, series.c.service, hour)
        .join_from(samples, series, series.c.id == samples.c.series_id)
        .where(samples.c.started_at >= first, samples.c.started_at < end)
        .group_by(series.c.platform, series.c.service, hour)
    )
    rolled = select(rollups.c.platform, rollups.c.service, rollups.c.hour).where(
        rollups.c.hour >= first, rollups.c.hour < end, rollups.c.count > 0
    )
    found: set[MeasuredHour] = set()
    async with engine.connect() as conn:
        for query in (raw, rolled):
            for platform, service, at in await conn.execute(query):
                moment = EPOCH + timedelta(hours=int(at)) if isinstance(at, int) else _utc(at)
                found.add(MeasuredHour(platform, service, moment))
    return sorted(found, key=lambda m: (m.platform, m.service, m.hour))


def _utc(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
