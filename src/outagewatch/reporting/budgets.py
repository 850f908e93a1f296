"""The report's SLO section: per service, the share of good and of fast samples in the month
against its objectives (config/slo.py), and the error budget spent and left.

Counted as Prometheus counts them for the burn-rate alerts (reporting/slo_rules.py): every
sample of every vantage; bad = failed or slower than ``slow_after``; fast = done within
``latency.under``. The samples come from the hourly roll-ups (raw samples expire long before
a report of last month is asked for), so announced maintenance is left out by the hour:
every hour a window of the service touched leaves the objective, its good samples with its
bad ones. Roll-ups older than their bucket counts (``le_counts``) count for availability
only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from outagewatch.config.slo import Slo
from outagewatch.durations import format_duration

HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class MaintenanceSpan:
    """The time an announced maintenance window held one service (its start to its end, or
    to its finish or cancellation)."""

    platform: str
    service: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class HourCounts:
    """One vantage's hour of one service, as its roll-up has it."""

    hour: datetime
    count: int
    bad: int
    le_counts: Mapping[str, int] | None


@dataclass
class SloLine:
    platform: str
    service: str
    slo_samples: int  # counted: maintenance hours left out
    slo_maintenance_samples: int  # left out
    slo_availability_objective: float
    slo_availability_percent: float | None  # None: no sample
    slo_bad_samples: int
    slo_availability_budget_samples: float  # bad samples the objective allows
    slo_availability_budget_spent_percent: float | None
    slo_availability_budget_left_percent: float | None  # below 0: the objective is missed
    slo_latency_under_seconds: float
    slo_latency_objective: float
    slo_latency_samples: int  # counted for latency (roll-ups with bucket counts)
    slo_latency_percent: float | None
    slo_slow_samples: int
    slo_latency_budget_samples: float
    slo_latency_budget_spent_percent: float | None
    slo_latency_budget_left_percent: float | None


def _touched(hour: datetime, spans: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(start < hour + HOUR and hour < end for start, end in spans)


def _budget(objective: float, counted: int, errors: int) -> tuple[float, float | None]:
    """(allowed errors, the share of them spent in percent)."""
    allowed = (1 - objective / 100) * counted
    return round(allowed, 2), (round(100 * errors / allowed, 2) if allowed else None)


def _percent(good: int, counted: int) -> float | None:
    return round(100 * good / counted, 4) if counted else None


def slo_line(
    platform: str,
    service: str,
    slo: Slo,
    hours: Sequence[HourCounts],
    maintenance: Sequence[tuple[datetime, datetime]],
) -> SloLine:
    counted = [h for h in hours if not _touched(h.hour, maintenance)]
    samples = sum(h.count for h in counted)
    bad = sum(h.bad for h in counted)
    le = slo.le
    timed = [h for h in counted if h.le_counts is not None]
    latency_samples = sum(h.count for h in timed)
    fast = sum((h.le_counts or {}).get(le, 0) for h in timed)
    allowed, spent = _budget(slo.availability, samples, bad)
    slow = latency_samples - fast
    allowed_slow, spent_slow = _budget(slo.latency_objective, latency_samples, slow)
    return SloLine(
        platform=platform,
        service=service,
        slo_samples=samples,
        slo_maintenance_samples=sum(h.count for h in hours) - samples,
        slo_availability_objective=slo.availability,
        slo_availability_percent=_percent(samples - bad, samples),
        slo_bad_samples=bad,
        slo_availability_budget_samples=allowed,
        slo_availability_budget_spent_percent=spent,
        slo_availability_budget_left_percent=None if spent is None else round(100 - spent, 2),
        slo_latency_under_seconds=slo.latency_under.total_seconds(),
        slo_latency_objective=slo.latency_objective,
        slo_latency_samples=latency_samples,
        slo_latency_percent=_percent(fast, latency_samples),
        slo_slow_samples=slow,
        slo_latency_budget_samples=allowed_slow,
        slo_latency_budget_spent_percent=spent_slow,
        slo_latency_budget_left_percent=(
            None if spent_slow is None else round(100 - spent_slow, 2)
        ),
    )


def _sli(
    name: str, attained: float | None, objective: float, errors: str, spent: float | None
) -> str:
    if attained is None:
        return f"{name:<12} {'no data':>10}  objective {objective:g} %"
    line = f"{name:<12} {attained:8.4f} %  objective {objective:g} %  {errors}"
    if spent is None:
        return line
    verdict = "  MISSED" if spent > 100 else ""
    return f"{line}; budget {spent:g} % spent, {round(100 - spent, 2):g} % left{verdict}"


def text_rows(lines: Sequence[SloLine]) -> list[str]:
    """The text section: per platform, two lines per service."""
    rows = [
        "",
        "SLOs: shares of samples from every vantage; hours of announced maintenance left out",
    ]
    for platform in dict.fromkeys(s.platform for s in lines):
        rows.append(platform)
        for s in (x for x in lines if x.platform == platform):
            under = format_duration(timedelta(seconds=s.slo_latency_under_seconds))
            rows.append(
                f"  {s.service:<10} "
                + _sli("availability", s.slo_availability_percent, s.slo_availability_objective,
                       f"{s.slo_bad_samples} bad of {s.slo_samples} (allowed"
                       f" {s.slo_availability_budget_samples:g})",
                       s.slo_availability_budget_spent_percent)
            )  # fmt: skip
            rows.append(
                f"  {'':<10} "
                + _sli(f"under {under}", s.slo_latency_percent, s.slo_latency_objective,
                       f"{s.slo_slow_samples} slow of {s.slo_latency_samples} (allowed"
                       f" {s.slo_latency_budget_samples:g})",
                       s.slo_latency_budget_spent_percent)
            )  # fmt: skip
            if s.slo_maintenance_samples:
                rows.append(f"  {'':<10} {s.slo_maintenance_samples} samples in maintenance hours")
    return rows
