"""The report's SLO section on roll-ups with known answers: attainment against objectives, the
error budget spent and left, announced maintenance left out, in text, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from outagewatch.config.slo import Slo
from outagewatch.reporting.budgets import MaintenanceSpan
from outagewatch.reporting.record import Report, Rollup, build, render

UTC_ONLY = {"eu-de-1": UTC}
SERVICES = {"eu-de-1": ["imap", "smtp", "pop3"]}
OCT = datetime(2026, 10, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 23, tzinfo=UTC)
DEFAULT = Slo()  # 99.9 %, 99 % within 5 s
STRICT = Slo(availability=99.0, latency_under=timedelta(seconds=1), latency_objective=95.0)
SLOS = {("eu-de-1", "imap"): DEFAULT, ("eu-de-1", "smtp"): STRICT, ("eu-de-1", "pop3"): DEFAULT}


def hour(n: int, service: str, vantage_bad: int = 0, *, fast_1s: int = 120, fast_5s: int = 120,
         counted: bool = True) -> Rollup:  # fmt: skip
    """One vantage's hour n of October: 120 samples, ``vantage_bad`` of them bad."""
    le = {"0.25": 0, "1.0": fast_1s, "5.0": fast_5s, "10.0": 120, "30.0": 120, "60.0": 120}
    at = OCT + timedelta(hours=n)
    return Rollup("eu-de-1", service, 120, vantage_bad, 0.5, 9.0, at, le if counted else None)


def october(rollups: list[Rollup], maintenance: list[MaintenanceSpan] | None = None) -> Report:
    return build(
        "2026-10", UTC_ONLY, SERVICES, [], [], rollups, NOW,
        measured=[], slos=SLOS, maintenance=maintenance or [],
    )  # fmt: skip


def imap_rollups() -> list[Rollup]:
    """100 hours from two vantages (24,000 samples); 12 bad in hour 10 from one vantage, and
    240 slower than 5 s in hour 20 seen from both; hours 50-51 a maintenance: all bad, slow."""
    rollups = []
    for n in range(100):
        for _vantage in ("fra", "nyc"):
            if n in (50, 51):
                rollups.append(hour(n, "imap", 120, fast_1s=0, fast_5s=0))
            elif n == 20:
                rollups.append(hour(n, "imap", fast_5s=0))
            else:
                rollups.append(hour(n, "imap"))
    rollups[20] = hour(10, "imap", 12)
    return rollups


MAINTENANCE = [
    # 50:30 to 51:10 touches hours 50 and 51; another service's window counts for it only
    MaintenanceSpan("eu-de-1", "imap", OCT + timedelta(hours=50, minutes=30),
                    OCT + timedelta(hours=51, minutes=10)),
    MaintenanceSpan("eu-de-1", "smtp", OCT, OCT + timedelta(hours=99)),
]  # fmt: skip


def test_attainment_and_budget_with_maintenance_left_out() -> None:
    report = october(imap_rollups(), MAINTENANCE)
    imap = next(s for s in report.slos if s.service == "imap")
    assert (imap.slo_samples, imap.slo_maintenance_samples) == (23_520, 480)
    assert imap.slo_bad_samples == 12
    assert imap.slo_availability_percent == pytest.approx(100 * (1 - 12 / 23_520), abs=1e-4)
    assert imap.slo_availability_budget_samples == pytest.approx(23.52)
    assert imap.slo_availability_budget_spent_percent == pytest.approx(100 * 12 / 23.52, abs=0.01)
    assert imap.slo_availability_budget_left_percent == pytest.approx(48.98, abs=0.01)
    assert (imap.slo_latency_samples, imap.slo_slow_samples) == (23_520, 240)
    assert imap.slo_latency_percent == pytest.approx(100 * (1 - 240 / 23_520), abs=1e-4)
    assert imap.slo_latency_budget_samples == pytest.approx(235.2)
    assert imap.slo_latency_budget_left_percent == pytest.approx(100 - 100 * 240 / 235.2, abs=0.01)
    assert imap.slo_latency_budget_left_percent < 0  # 240 slow of 235.2 allowed: missed


def test_without_the_window_the_maintenance_hours_spend_the_budget() -> None:
    imap = next(s for s in october(imap_rollups()).slos if s.service == "imap")
    assert (imap.slo_samples, imap.slo_maintenance_samples) == (24_000, 0)
    assert imap.slo_bad_samples == 12 + 480
    assert imap.slo_availability_budget_spent_percent == pytest.approx(100 * 492 / 24, abs=0.01)


def test_each_service_by_its_own_objectives_and_bucket() -> None:
    # smtp: 99 % and 95 % within 1 s; 10 of 120 samples a hour over 1 s, all within 5 s
    rollups = [hour(n, "smtp", 1, fast_1s=110) for n in range(100, 110)]
    smtp = next(s for s in october(rollups).slos if s.service == "smtp")
    assert (smtp.slo_availability_objective, smtp.slo_latency_objective) == (99.0, 95.0)
    assert smtp.slo_latency_under_seconds == 1.0
    assert (smtp.slo_samples, smtp.slo_bad_samples, smtp.slo_slow_samples) == (1200, 10, 100)
    assert smtp.slo_availability_budget_samples == 12
    assert smtp.slo_latency_budget_samples == 60
    assert smtp.slo_latency_budget_left_percent == pytest.approx(100 - 100 * 100 / 60, abs=0.01)


def test_roll_ups_without_bucket_counts_count_for_availability_only() -> None:
    rollups = [hour(n, "pop3", counted=n >= 5) for n in range(10)]
    pop3 = next(s for s in october(rollups).slos if s.service == "pop3")
    assert (pop3.slo_samples, pop3.slo_latency_samples) == (1200, 600)
    assert (pop3.slo_availability_percent, pop3.slo_latency_percent) == (100, 100)
    assert pop3.slo_availability_budget_left_percent == 100


def test_no_samples_is_no_data_not_a_full_budget() -> None:
    pop3 = next(s for s in october([]).slos if s.service == "pop3")
    assert pop3.slo_availability_percent is None and pop3.slo_latency_percent is None
    assert pop3.slo_availability_budget_spent_percent is None
    assert pop3.slo_availability_budget_left_percent is None
    assert "no data" in render(october([]), "text")


def test_formats() -> None:
    report = october(imap_rollups() + [hour(n, "smtp", 1, fast_1s=110) for n in range(10)],
                     MAINTENANCE)  # fmt: skip
    text = render(report, "text")
    section = text[text.index("SLOs:") :].splitlines()
    assert section[0].startswith("SLOs: shares of samples from every vantage;")
    assert section[1] == "eu-de-1"
    assert section[2] == (
        "  imap       availability  99.9490 %  objective 99.9 %  12 bad of 23520 (allowed 23.52);"
        " budget 51.02 % spent, 48.98 % left"
    )
    assert section[3] == (
        "             under 5s      98.9796 %  objective 99 %  240 slow of 23520 (allowed 235.2);"
        " budget 102.04 % spent, -2.04 % left  MISSED"
    )
    assert section[4] == "             480 samples in maintenance hours"
    assert any(line.startswith("  pop3       availability    no data") for line in section)
    data = json.loads(render(report, "json"))
    imap = next(s for s in data["slos"] if s["service"] == "imap")
    assert imap["slo_availability_budget_left_percent"] == 48.98
    assert imap["slo_latency_budget_spent_percent"] == 102.04
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"))))
    by_service = {row["service"]: row for row in rows}
    assert by_service["imap"]["availability_basis"] == "no data"  # time-based: no hours given
    assert by_service["imap"]["slo_availability_percent"] == "99.949"
    assert by_service["imap"]["slo_maintenance_samples"] == "480"
    assert by_service["smtp"]["slo_latency_under_seconds"] == "1.0"
    assert by_service["pop3"]["slo_latency_percent"] == ""
