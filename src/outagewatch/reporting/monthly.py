"""Loads a month of history and builds the report (the I/O edge of reporting/record.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from outagewatch.config import Config
from outagewatch.reporting import store as reporting
from outagewatch.reporting.record import build, month_bounds, render
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import require_head


async def monthly_report(
    config: Config, month: str, platform: str | None, fmt: str, now: datetime
) -> str:
    chosen = {p: v for p, v in config.platforms.items() if platform in (None, p)}
    zones = {p: v.zone for p, v in chosen.items()}
    bounds = [month_bounds(month, zone) for zone in zones.values()]
    start, end = min(b[0] for b in bounds), max(b[1] for b in bounds)
    cadence = {p: config.platform_rules(p).update_every for p in chosen}
    engine = open_engine(config.database)
    try:
        await require_head(engine)  # a report only reads: it never migrates
        outages = await reporting.outages(engine, start, end)
        incidents = await reporting.incident_facts(engine, start, end, cadence)
        rollups = await reporting.hourly(engine, start, end)
        measured = await reporting.measured_hours(engine, start, end)
        maintenance = await reporting.maintenance_spans(engine, start, end)
    finally:
        await engine.dispose()
    report = build(
        month,
        zones,
        {p: list(v.services) for p, v in chosen.items()},
        [o for o in outages if o.platform in chosen],
        [
            i
            for i in incidents
            if i.platform in chosen and _in_month(i.opened_at, month, zones[i.platform])
        ],
        [r for r in rollups if r.platform in chosen],
        now,
        measured=[m for m in measured if m.platform in chosen],
        slos={(p, s): config.slo_for(p, s) for p, v in chosen.items() for s in v.services},
        maintenance=maintenance,
    )
    return render(report, fmt)


def _in_month(moment: datetime, month: str, zone: ZoneInfo) -> bool:
    start, end = month_bounds(month, zone)
    return start <= moment < end
