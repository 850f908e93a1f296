"""``outagewatch report``: the monthly record the operations agreement is judged by.

Per platform and service: coverage (the hours of the month in which it was measured at
all), availability over that measured time only (never over hours nobody probed, and "no
data" when there are none), outages and their minutes, sample statistics from the hourly
roll-ups; per incident: time to acknowledge and to
restore, and the communication record (how late the detected and restored mails were,
the largest gap between customer mails), each flagged when it breaks the agreement.
A month is the platform's own calendar month, in its time zone: October in Berlin has
745 hours (summer time ends on its last Sunday).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from outagewatch.config.slo import Slo
from outagewatch.reporting.budgets import HourCounts, MaintenanceSpan, SloLine, slo_line, text_rows

# The agreement says "when detected", "hourly", "when restored"; these are the tolerances a
# mail may be late before the report flags it.
DETECTED_MAIL_LIMIT = timedelta(minutes=15)
GAP_TOLERANCE = timedelta(minutes=10)
RESTORED_MAIL_LIMIT = timedelta(minutes=30)


@dataclass(frozen=True)
class Outage:
    platform: str
    service: str
    started_at: datetime
    restored_at: datetime | None


@dataclass(frozen=True)
class IncidentFacts:
    ref: str
    platform: str
    opened_at: datetime
    started_at: datetime
    acknowledged_at: datetime | None
    restored_at: datetime | None
    cadence: timedelta
    customer_mails: tuple[tuple[str, datetime | None], ...]  # (kind, sent_at) in order


@dataclass(frozen=True)
class MeasuredHour:
    """An hour (UTC, on the hour) in which the service has at least one sample."""

    platform: str
    service: str
    hour: datetime


@dataclass(frozen=True)
class Rollup:
    platform: str
    service: str
    count: int
    bad_count: int
    p95: float
    max: float
    hour: datetime | None = None
    le_counts: Mapping[str, int] | None = None  # samples within each bucket boundary


NO_DATA = "no data"
BASIS = "measured time only"


@dataclass
class ServiceLine:
    platform: str
    service: str
    availability_percent: float | None  # None: not a single measured hour
    availability_basis: str  # BASIS, or NO_DATA
    measured_hours: float
    period_hours: float  # the month, or its part until now
    coverage_percent: float | None
    outages: int
    outage_minutes: float
    samples: int
    bad_samples: int
    p95_seconds: float | None
    max_seconds: float | None


@dataclass
class IncidentLine:
    ref: str
    platform: str
    minutes_to_acknowledge: float | None
    minutes_to_restore: float | None
    detected_mail_delay_minutes: float | None
    largest_gap_minutes: float | None
    restored_mail_delay_minutes: float | None
    flags: list[str] = field(default_factory=list)


@dataclass
class Report:
    month: str
    services: list[ServiceLine]
    incidents: list[IncidentLine]
    mtta_minutes: dict[str, float | None]
    mttr_minutes: dict[str, float | None]
    slos: list[SloLine] = field(default_factory=list)


def month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=zone)
    # In UTC: Python subtracts two times of the same zone by their wall clocks, which
    # would lose the hour summer time gives back in October.
    return start.astimezone(UTC), end.astimezone(UTC)


def _minutes(delta: timedelta | None) -> float | None:
    return None if delta is None else round(delta.total_seconds() / 60, 2)


def build(
    month: str,
    zones: dict[str, ZoneInfo],
    services: dict[str, Sequence[str]],
    outages: Sequence[Outage],
    incidents: Sequence[IncidentFacts],
    rollups: Sequence[Rollup],
    now: datetime,
    *,
    measured: Sequence[MeasuredHour],
    slos: Mapping[tuple[str, str], Slo] | None = None,
    maintenance: Sequence[MaintenanceSpan] = (),
) -> Report:
    hours: dict[tuple[str, str], list[datetime]] = {}
    for m in measured:
        hours.setdefault((m.platform, m.service), []).append(m.hour)
    lines = []
    objectives: list[SloLine] = []
    for platform, names in services.items():
        start, end = month_bounds(month, zones[platform])
        period = (start, max(start, min(end, now)))
        for service in names:
            mine = [r for r in rollups if (r.platform, r.service) == (platform, service)]
            # In UTC: two times of one zone subtract by their wall clocks (see month_bounds).
            spans = [
                (max(o.started_at, start).astimezone(UTC),
                 min(o.restored_at or now, end, now).astimezone(UTC))
                for o in outages
                if (o.platform, o.service) == (platform, service)
            ]  # fmt: skip
            spans = [(lo, hi) for lo, hi in spans if hi > lo]
            seen = _clip([(h, h + HOUR) for h in hours.get((platform, service), [])], period)
            lines.append(_service_line(platform, service, period, seen, spans, mine))
            if slos is not None:
                objectives.append(
                    _slo_line(platform, service, slos[platform, service], mine, maintenance,
                              (start, end))
                )  # fmt: skip
    record = [_incident_line(i) for i in incidents]
    groups = {p: [line for line in record if line.platform == p] for p in services}
    return Report(
        month=month,
        services=lines,
        incidents=record,
        mtta_minutes={p: _mean([x.minutes_to_acknowledge for x in g]) for p, g in groups.items()},
        mttr_minutes={p: _mean([x.minutes_to_restore for x in g]) for p, g in groups.items()},
        slos=objectives,
    )


HOUR = timedelta(hours=1)
Span = tuple[datetime, datetime]


def _slo_line(
    platform: str,
    service: str,
    slo: Slo,
    rollups: Sequence[Rollup],
    maintenance: Sequence[MaintenanceSpan],
    month: Span,
) -> SloLine:
    held = [(m.start, m.end) for m in maintenance if (m.platform, m.service) == (platform, service)]
    counts = [
        HourCounts(r.hour, r.count, r.bad_count, r.le_counts)
        for r in rollups
        if r.hour is not None and month[0] <= r.hour < month[1]
    ]
    return slo_line(platform, service, slo, counts, held)


def _clip(spans: Sequence[Span], window: Span) -> list[Span]:
    return [
        (max(lo, window[0]), min(hi, window[1]))
        for lo, hi in spans
        if min(hi, window[1]) > max(lo, window[0])
    ]


def _service_line(
    platform: str,
    service: str,
    period: Span,
    seen: Sequence[Span],
    outages: Sequence[Span],
    rollups: Sequence[Rollup],
) -> ServiceLine:
    measured = sum((hi - lo for lo, hi in seen), timedelta(0))
    # Down time counts only where someone measured: an outage that outlived the daemon
    # does not grow over the hours nobody probed.
    down_measured = sum(
        (hi - lo for outage in outages for lo, hi in _clip(seen, outage)), timedelta(0)
    )
    length = period[1] - period[0]
    available = None if not measured else round(100 * (1 - down_measured / measured), 4)
    return ServiceLine(
        platform=platform,
        service=service,
        availability_percent=available,
        availability_basis=NO_DATA if available is None else BASIS,
        measured_hours=round(measured / HOUR, 2),
        period_hours=round(length / HOUR, 2),
        coverage_percent=round(100 * measured / length, 2) if length else None,
        outages=len(outages),
        outage_minutes=_minutes(sum((hi - lo for lo, hi in outages), timedelta(0))) or 0.0,
        samples=sum(r.count for r in rollups),
        bad_samples=sum(r.bad_count for r in rollups),
        # A month's p95 cannot be derived from hourly p95s; the worst hour is what an
        # operator looks for, and it is what this column shows.
        p95_seconds=max((r.p95 for r in rollups), default=None),
        max_seconds=max((r.max for r in rollups), default=None),
    )


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 2) if known else None


def _since(later: datetime | None, earlier: datetime | None) -> timedelta | None:
    return later - earlier if later is not None and earlier is not None else None


def _incident_line(i: IncidentFacts) -> IncidentLine:
    detected = next((at for kind, at in i.customer_mails if kind == "detected"), None)
    restored = next((at for kind, at in i.customer_mails if kind == "restored"), None)
    line = IncidentLine(
        ref=i.ref,
        platform=i.platform,
        minutes_to_acknowledge=_minutes(_since(i.acknowledged_at, i.opened_at)),
        minutes_to_restore=_minutes(_since(i.restored_at, i.started_at)),
        detected_mail_delay_minutes=_minutes(_since(detected, i.opened_at)),
        largest_gap_minutes=None,
        restored_mail_delay_minutes=_minutes(_since(restored, i.restored_at)),
    )
    late = _since(detected, i.opened_at)
    if late is None or late > DETECTED_MAIL_LIMIT:
        line.flags.append("detected mail late or missing")
    times = [at for _, at in i.customer_mails if at is not None]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    if gaps:
        line.largest_gap_minutes = _minutes(max(gaps))
        if max(gaps) > i.cadence + GAP_TOLERANCE:
            line.flags.append("update cadence broken")
    late = _since(restored, i.restored_at)
    if i.restored_at is not None and (late is None or late > RESTORED_MAIL_LIMIT):
        line.flags.append("restored mail late or missing")
    return line


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(asdict(report), indent=2, default=str)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        # One row per service: its SLO columns (if any) after its availability ones.
        slo_names = [f.name for f in fields(SloLine)][2:] if report.slos else []
        writer.writerow([f.name for f in fields(ServiceLine)] + slo_names)
        slos = {(x.platform, x.service): asdict(x) for x in report.slos}
        for s in report.services:
            extra = slos.get((s.platform, s.service), {})
            writer.writerow(list(asdict(s).values()) + [extra.get(n) for n in slo_names])
        return out.getvalue()
    rows = [
        f"outagewatch report for {report.month}",
        "availability over measured time only; measured = hours with at least one sample",
        "",
    ]
    for platform in dict.fromkeys(s.platform for s in report.services):
        mtta, mttr = report.mtta_minutes[platform], report.mttr_minutes[platform]
        rows.append(f"{platform}  (MTTA {mtta} min, MTTR {mttr} min)")
        for s in (x for x in report.services if x.platform == platform):
            verdict = (
                f"{NO_DATA:>10}"
                if s.availability_percent is None
                else f"{s.availability_percent:8.4f} %"
            )
            coverage = "" if s.coverage_percent is None else f" ({s.coverage_percent:g} %)"
            rows.append(
                f"  {s.service:<10} {verdict}  measured {s.measured_hours:g} of"
                f" {s.period_hours:g} h{coverage}  {s.outages} outages"
                f" {s.outage_minutes:8.1f} min  {s.samples} samples ({s.bad_samples} bad)"
            )
        for i in (x for x in report.incidents if x.platform == platform):
            rows.append(
                f"  {i.ref}  ack {i.minutes_to_acknowledge} min,"
                f" restore {i.minutes_to_restore} min,"
                f" detected mail +{i.detected_mail_delay_minutes} min,"
                f" largest gap {i.largest_gap_minutes} min,"
                f" restored mail +{i.restored_mail_delay_minutes} min: {'; '.join(i.flags) or 'ok'}"
            )
    if report.slos:
        rows.extend(text_rows(report.slos))
    return "\n".join(rows)
