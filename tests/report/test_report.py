"""The monthly report on generated history with known answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from outagewatch.reporting.record import IncidentFacts, Outage, Rollup, build, month_bounds, render

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 23, tzinfo=UTC)
ZONES = {"eu-de-1": BERLIN, "us": NEW_YORK}
SERVICES = {"eu-de-1": ["imap", "smtp"], "us": ["imap"]}


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def test_october_in_berlin_has_745_hours() -> None:
    start, end = month_bounds("2026-10", BERLIN)
    assert end - start == timedelta(hours=745)  # summer time ends on 25 October
    start, end = month_bounds("2026-03", BERLIN)
    assert end - start == timedelta(hours=743)
    start, end = month_bounds("2026-12", NEW_YORK)
    assert end == datetime(2027, 1, 1, 5, tzinfo=UTC)


def test_availability_counts_only_the_part_inside_the_month() -> None:
    outages = [
        # across the month boundary: 30 minutes in September, 30 in October
        Outage("eu-de-1", "imap", berlin("2026-09-30 23:30"), berlin("2026-10-01 00:30")),
        # inside October, over the night summer time ends (02:00-03:00 happens twice): 2 h real
        Outage(
            "eu-de-1",
            "imap",
            berlin("2026-10-25 01:30"),
            berlin("2026-10-25 02:30") + timedelta(hours=1),
        ),
        Outage(
            "eu-de-1", "smtp", berlin("2026-11-02 10:00"), berlin("2026-11-02 11:00")
        ),  # November
    ]
    report = build("2026-10", ZONES, SERVICES, outages, [], [], NOW)
    imap = next(s for s in report.services if (s.platform, s.service) == ("eu-de-1", "imap"))
    assert imap.outages == 2
    assert imap.outage_minutes == 30 + 120
    assert imap.availability_percent == pytest.approx(100 * (1 - 150 / (745 * 60)), abs=1e-4)
    smtp = next(s for s in report.services if (s.platform, s.service) == ("eu-de-1", "smtp"))
    assert (smtp.outages, smtp.availability_percent) == (0, 100.0)
    september = build("2026-09", ZONES, SERVICES, outages, [], [], NOW)
    assert september.services[0].outage_minutes == 30


def test_an_outage_still_open_counts_until_now() -> None:
    outages = [Outage("us", "imap", NOW - timedelta(hours=2), None)]
    report = build("2026-11", ZONES, SERVICES, outages, [], [], NOW)
    us = next(s for s in report.services if s.platform == "us")
    assert us.outage_minutes == 120
    start = month_bounds("2026-11", NEW_YORK)[0]
    assert us.availability_percent == pytest.approx(
        100 * (1 - 2 / ((NOW - start) / timedelta(hours=1))), abs=1e-4
    )


def facts(ref: str, mails: list[tuple[str, float | None]], **kw: object) -> IncidentFacts:
    opened = berlin("2026-10-10 10:00")
    sent = tuple((k, None if m is None else opened + timedelta(minutes=m)) for k, m in mails)
    base = {
        "ref": ref,
        "platform": "eu-de-1",
        "opened_at": opened,
        "started_at": opened - timedelta(minutes=15),
        "acknowledged_at": opened + timedelta(minutes=6),
        "restored_at": opened + timedelta(minutes=150),
        "cadence": timedelta(hours=1),
        "customer_mails": sent,
    }
    return IncidentFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_communication_record_and_its_flags() -> None:
    good = facts("OW-1", [("detected", 1), ("update", 61), ("update", 121), ("restored", 152)])
    late = facts("OW-2", [("detected", 20), ("update", 115), ("restored", None)])
    report = build("2026-10", ZONES, SERVICES, [], [good, late], [], NOW)
    first, second = report.incidents
    assert first.flags == []
    assert (first.detected_mail_delay_minutes, first.largest_gap_minutes) == (1, 60)
    assert first.restored_mail_delay_minutes == 2
    assert (first.minutes_to_acknowledge, first.minutes_to_restore) == (6, 165)
    assert second.flags == [
        "detected mail late or missing",
        "update cadence broken",
        "restored mail late or missing",
    ]
    assert second.largest_gap_minutes == 95
    assert report.mtta_minutes["eu-de-1"] == 6 and report.mttr_minutes["eu-de-1"] == 165
    assert report.mtta_minutes["us"] is None


def test_rollups_and_formats() -> None:
    rollups = [
        Rollup("eu-de-1", "imap", 120, 3, 0.4, 2.0),
        Rollup("eu-de-1", "imap", 120, 0, 0.9, 1.0),
    ]
    report = build("2026-10", ZONES, SERVICES, [], [facts("OW-1", [("detected", 1)])], rollups, NOW)
    imap = report.services[0]
    assert (imap.samples, imap.bad_samples, imap.p95_seconds, imap.max_seconds) == (
        240,
        3,
        0.9,
        2.0,
    )
    text = render(report, "text")
    assert "outagewatch report for 2026-10" in text and "OW-1" in text
    assert render(report, "csv").splitlines()[0].startswith("platform,service,availability_percent")
    assert '"month": "2026-10"' in render(report, "json")
