"""The daily bars as a pure function: measured time from roll-ups and raw samples, no data
as no data, outages cut at day edges in the platform's zone, labels as a screen reader says
them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from outagewatch.web.bars import Day, daily_bars

BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)


def hours_of(day: date, zone: ZoneInfo) -> list[datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    end = (datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1)).astimezone(UTC)
    return [start + n * H for n in range(int((end - start) / H))]


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (Day(date(2026, 11, 12), timedelta(0), timedelta(0), 0), "12 Nov 2026: no data"),
        (Day(date(2026, 11, 12), 24 * H, timedelta(0), 0),
         "12 Nov 2026: 100 % available, no incidents"),
        (Day(date(2026, 11, 12), 24 * H, timedelta(minutes=11, seconds=31), 1),
         "12 Nov 2026: 99.2 % available, 1 incident"),
        # 99.97 % is not rounded up to 100 %: a day with an outage never reads as perfect.
        (Day(date(2026, 11, 2), 24 * H, timedelta(seconds=30), 2),
         "2 Nov 2026: 99.9 % available, 2 incidents"),
    ],
)  # fmt: skip
def test_labels(day: Day, expected: str) -> None:
    assert day.label == expected


def test_levels() -> None:
    day = date(2026, 11, 12)
    assert Day(day, timedelta(0), timedelta(0), 0).level == "none"
    assert Day(day, 24 * H, timedelta(0), 0).level == "ok"
    assert Day(day, 24 * H, timedelta(minutes=14), 1).level == "partial"  # 99.03 %
    assert Day(day, 24 * H, timedelta(minutes=15), 1).level == "major"  # 98.96 %


def test_no_data_days_outage_cut_at_midnight_and_today_up_to_now() -> None:
    now = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # 12:00 in Berlin
    measured = hours_of(date(2026, 11, 28), BERLIN) + hours_of(date(2026, 11, 29), BERLIN)
    # Down from 23:00 to 01:00 Berlin time across the night of the 28th.
    outage = (datetime(2026, 11, 28, 22, 0, tzinfo=UTC), datetime(2026, 11, 29, 0, 0, tzinfo=UTC))
    bars = daily_bars(
        days=4, now=now, zone=BERLIN, hours=measured,
        tail_from=datetime(2026, 11, 29, 23, 0, tzinfo=UTC),  # raw samples since Berlin midnight
        outages=[outage], incidents=[outage],
    )  # fmt: skip
    assert [b.day for b in bars] == [date(2026, 11, d) for d in (27, 28, 29, 30)]
    assert [b.level for b in bars] == ["none", "major", "major", "ok"]
    assert bars[1].down == H and bars[2].down == H
    assert bars[1].incidents == bars[2].incidents == 1 and bars[3].incidents == 0
    assert bars[3].measured == 12 * H  # today: from midnight to now, not a whole day
    assert bars[3].label == "30 Nov 2026: 100 % available, no incidents"


def test_the_day_summer_time_ends_has_25_hours() -> None:
    day = date(2026, 10, 25)
    now = datetime(2026, 10, 27, tzinfo=UTC)
    bars = daily_bars(days=3, now=now, zone=BERLIN, hours=hours_of(day, BERLIN),
                      tail_from=None, outages=[], incidents=[])  # fmt: skip
    assert bars[0].day == day and bars[0].measured == 25 * H and bars[0].level == "ok"


def test_an_hour_across_a_half_hour_zone_midnight_is_split() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+5:30: UTC hours straddle local midnights
    hour = datetime(2026, 11, 28, 18, 0, tzinfo=UTC)  # 23:30-00:30 local
    now = datetime(2026, 11, 30, tzinfo=UTC)
    bars = daily_bars(days=3, now=now, zone=kolkata, hours=[hour], tail_from=None,
                      outages=[], incidents=[])  # fmt: skip
    assert [b.measured for b in bars] == [H / 2, H / 2, timedelta(0)]


def test_a_running_outage_counts_until_now() -> None:
    now = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    bars = daily_bars(
        days=1, now=now, zone=BERLIN, hours=[], tail_from=now - 2 * H,
        outages=[(now - H, None)], incidents=[(now - H, None)],
    )  # fmt: skip
    assert bars[0].availability == pytest.approx(50.0)
    assert bars[0].label == "30 Nov 2026: 50.0 % available, 1 incident"
