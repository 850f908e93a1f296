"""The monthly report on generated history with known answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from outagewatch.reporting.record import (
    IncidentFacts,
    MeasuredHour,
    Outage,
    Rollup,
    build,
    month_bounds,
    render,
)

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 23, tzinfo=UTC)
ZONES = {"eu-de-1": BERLIN, "us": NEW_YORK}
SERVICES = {"eu-de-1": ["imap", "smtp"], "us": ["imap"]}


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


def every_hour(month: str, until: datetime = NOW) -> list[MeasuredHour]:
    """Every service measured in every hour of ``month`` (in both zones) up to ``until``."""
    start = min(month_bounds(month, zone)[0] for zone in ZONES.values())
    end = min(until, max(month_bounds(month, zone)[1] for zone in ZONES.values()))
    hours = int((end - start) / timedelta(hours=1)) + 1
    return [
        MeasuredHour(platform, service, start + timedelta(hours=n))
        for platform, names in SERVICES.items()
        for service in names
        for n in range(hours)
    ]


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
        # inside October, over the night summer time ends (02:00-03:00 happens twice): from
        # 01:30 CEST to 03:30 CET is 2 h on the wall clock and 3 h real
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
    report = build("2026-10", ZONES, SERVICES, outages, [], [], NOW, measured=every_hour("2026-10"))
    imap = next(s for s in report.services if (s.platform, s.service) == ("eu-de-1", "imap"))
    assert imap.outages == 2
    assert imap.outage_minutes == 30 + 180
    assert imap.availability_percent == pytest.approx(100 * (1 - 210 / (745 * 60)), abs=1e-4)
    smtp = next(s for s in report.services if (s.platform, s.service) == ("eu-de-1", "smtp"))
    assert (smtp.outages, smtp.availability_percent) == (0, 100.0)
    september = build(
        "2026-09", ZONES, SERVICES, outages, [], [], NOW, measured=every_hour("2026-09")
    )
    assert september.services[0].outage_minutes == 30


def test_an_outage_still_open_counts_until_now() -> None:
    outages = [Outage("us", "imap", NOW - timedelta(hours=2), None)]
    report = build("2026-11", ZONES, SERVICES, outages, [], [], NOW, measured=every_hour("2026-11"))
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
    report = build("2026-10", ZONES, SERVICES, [], [good, late], [], NOW, measured=[])
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
    incidents = [facts("OW-1", [("detected", 1)])]
    report = build("2026-10", ZONES, SERVICES, [], incidents, rollups, NOW, measured=[])
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


def test_a_month_without_a_sample_is_no_data_never_100_percent() -> None:
    report = build("2026-10", ZONES, SERVICES, [], [], [], NOW, measured=[])
    for line in report.services:
        assert line.availability_percent is None
        assert line.availability_basis == "no data"
        assert (line.measured_hours, line.coverage_percent) == (0, 0)
    assert report.services[0].period_hours == 745
    text = render(report, "text")
    assert "no data" in text and "100" not in text
    assert "measured 0 of 745 h (0 %)" in text
    assert '"availability_percent": null' in render(report, "json")
    assert '"availability_basis": "no data"' in render(report, "json")
    csv_rows = render(report, "csv").splitlines()
    assert "availability_basis" in csv_rows[0] and "measured_hours" in csv_rows[0]
    assert all(",,no data,0.0," in row for row in csv_rows[1:]), csv_rows


def test_partial_coverage_and_availability_over_measured_time_only() -> None:
    start = month_bounds("2026-10", BERLIN)[0]
    # imap measured for the first 100 hours of October only; down 2 h inside them, and an
    # outage that went on for 10 h more while nobody measured (outagewatch was down).
    measured = [MeasuredHour("eu-de-1", "imap", start + timedelta(hours=n)) for n in range(100)]
    outages = [Outage("eu-de-1", "imap", start + timedelta(hours=98), start + timedelta(hours=110))]
    report = build("2026-10", ZONES, SERVICES, outages, [], [], NOW, measured=measured)
    imap, smtp = report.services[0], report.services[1]
    assert (imap.measured_hours, imap.period_hours) == (100, 745)
    assert imap.coverage_percent == pytest.approx(100 * 100 / 745, abs=0.01)
    assert imap.availability_percent == pytest.approx(100 * (1 - 2 / 100), abs=1e-4)
    assert imap.availability_basis == "measured time only"
    assert imap.outage_minutes == 12 * 60  # the outage as recorded, measured or not
    assert smtp.availability_percent is None  # measured by nobody: no data, not 100 %
    text = render(report, "text")
    assert "availability over measured time only" in text
    assert "98.0000 %  measured 100 of 745 h (13.42 %)" in text


def test_the_current_month_counts_its_hours_until_now() -> None:
    now = datetime(2026, 11, 3, 12, 30, tzinfo=UTC)
    report = build("2026-11", ZONES, SERVICES, [], [], [], now, measured=every_hour("2026-11", now))
    imap = report.services[0]
    start = month_bounds("2026-11", BERLIN)[0]
    assert imap.period_hours == round((now - start) / timedelta(hours=1), 2)
    assert imap.measured_hours == imap.period_hours  # the hour in progress counts until now
    assert (imap.coverage_percent, imap.availability_percent) == (100, 100)
