"""Three business days ahead, in the platform's zone, without weekends and public holidays."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from outagewatch.maintenance.decisions import earliest_planned_start

BERLIN, NEW_YORK, UTC = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), ZoneInfo("UTC")


def local(zone: ZoneInfo, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


@pytest.mark.parametrize(
    ("zone", "country", "announced", "earliest", "why"),
    [
        (BERLIN, "DE", "2026-11-23 10:00", "2026-11-26 10:00", "Monday: Tue, Wed, Thu"),
        (
            BERLIN,
            "DE",
            "2026-11-27 10:00",
            "2026-12-02 10:00",
            "Friday: the weekend does not count",
        ),
        (BERLIN, "DE", "2026-11-28 15:00", "2026-12-02 15:00", "asked on a Saturday"),
        (BERLIN, "DE", "2027-03-25 10:00", "2027-04-01 10:00", "Good Friday and Easter Monday"),
        (BERLIN, "DE", "2027-03-26 10:00", "2027-04-01 10:00", "asked on Good Friday itself"),
        (NEW_YORK, "US", "2027-03-26 10:00", "2027-03-31 10:00", "no Easter holidays in the US"),
        (NEW_YORK, "US", "2026-11-24 10:00", "2026-11-30 10:00", "Thanksgiving does not count"),
        (
            BERLIN,
            "DE",
            "2026-12-23 09:00",
            "2026-12-29 09:00",
            "Christmas Eve counts, the 25th not",
        ),
        (BERLIN, "DE", "2027-12-23 09:00", "2027-12-28 09:00", "25th and 26th on a weekend"),
        (BERLIN, "DE", "2025-12-23 09:00", "2025-12-30 09:00", "Christmas Day and Boxing Day"),
        (NEW_YORK, "US", "2026-12-23 09:00", "2026-12-29 09:00", "only Christmas Day in the US"),
        (BERLIN, "DE", "2026-10-22 10:00", "2026-10-27 10:00", "across the end of summer time"),
        (BERLIN, None, "2027-03-25 10:00", "2027-03-30 10:00", "no holiday calendar configured"),
    ],
)
def test_earliest_start(
    zone: ZoneInfo, country: str | None, announced: str, earliest: str, why: str
) -> None:
    got = earliest_planned_start(local(zone, announced).astimezone(UTC), zone, country)
    assert got.astimezone(zone).replace(tzinfo=None) == datetime.fromisoformat(earliest), why
    assert got.tzinfo is not None


def test_the_day_is_the_platforms_not_utc() -> None:
    # Monday 23:30 UTC is already Tuesday 00:30 in Berlin: count from Tuesday.
    monday_night = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    got = earliest_planned_start(monday_night, BERLIN, "DE")
    assert got.astimezone(BERLIN) == local(BERLIN, "2026-11-27 00:30")
    # ... while in New York it is still Monday evening.
    got_us = earliest_planned_start(monday_night, NEW_YORK, "US")
    assert got_us.astimezone(NEW_YORK) == local(NEW_YORK, "2026-11-27 18:30")  # Thanksgiving


def test_summer_time_keeps_the_local_hour_not_the_utc_one() -> None:
    got = earliest_planned_start(local(BERLIN, "2026-10-22 10:00"), BERLIN, "DE")
    assert got.utcoffset() is not None
    assert got.astimezone(UTC).hour == 9  # 10:00 CET, while the announcement was 08:00 UTC
