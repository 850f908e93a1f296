"""The 90 daily bars of a service on the status page (a pure function of data and ``now``).

A day's availability is the share of its *measured* time that was not in outage. Measured
time comes from the hourly roll-ups (an hour with samples counts whole) and, for the hours
not rolled up yet, from the first raw sample on. A day nobody measured is "no data", never
100 %: a status page that paints the days outagewatch itself was down green would lie.
Days are the platform's calendar days, in its own zone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

HOUR = timedelta(hours=1)
Interval = tuple[datetime, datetime | None]  # an open end runs until now
Level = Literal["none", "ok", "partial", "major"]
# Below this a day is shown as a major outage; above it (but not 100 %) as partial.
MAJOR_BELOW = 99.0


@dataclass(frozen=True)
class Day:
    day: date
    measured: timedelta
    down: timedelta
    incidents: int

    @property
    def availability(self) -> float | None:
        if self.measured <= timedelta(0):
            return None
        return max(0.0, 100.0 * (1 - self.down / self.measured))

    @property
    def level(self) -> Level:
        available = self.availability
        if available is None:
            return "none"
        if self.down <= timedelta(0):
            return "ok"
        return "partial" if available >= MAJOR_BELOW else "major"

    @property
    def label(self) -> str:
        """What a screen reader says and the tooltip shows: '12 Nov 2026: 99.2 % available,
        1 incident'."""
        when = f"{self.day.day} {self.day:%b %Y}"
        available = self.availability
        if available is None:
            return f"{when}: no data"
        # Rounded down: 99.96 % of a day is not "100 %" on a page customers hold us to.
        shown = "100" if self.down <= timedelta(0) else f"{math.floor(available * 10) / 10:.1f}"
        count = {0: "no incidents", 1: "1 incident"}.get(
            self.incidents, f"{self.incidents} incidents"
        )
        return f"{when}: {shown} % available, {count}"


def _overlap(start: datetime, end: datetime | None, lo: datetime, hi: datetime) -> timedelta:
    top = hi if end is None else min(end, hi)
    return max(timedelta(0), top - max(start, lo))


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start, end


def daily_bars(
    *,
    days: int,
    now: datetime,
    zone: ZoneInfo,
    hours: Iterable[datetime],
    tail_from: datetime | None,
    outages: Sequence[Interval],
    incidents: Sequence[Interval],
) -> list[Day]:
    """``days`` bars, oldest first, the last one today (up to ``now``)."""
    today = now.astimezone(zone).date()
    # Each hour filed under the local day(s) it touches: one pass, not days x hours.
    by_day: dict[date, list[datetime]] = {}
    for hour in hours:
        for moment in (hour, hour + HOUR - timedelta(microseconds=1)):
            found = by_day.setdefault(moment.astimezone(zone).date(), [])
            if not found or found[-1] != hour:
                found.append(hour)
    bars = []
    for back in range(days - 1, -1, -1):
        day = today - timedelta(days=back)
        lo, hi = day_bounds(day, zone)
        hi = min(hi, now)
        measured = sum((_overlap(h, h + HOUR, lo, hi) for h in by_day.get(day, ())), timedelta(0))
        if tail_from is not None:
            measured += _overlap(tail_from, now, lo, hi)
        down = sum((_overlap(s, e or now, lo, hi) for s, e in outages), timedelta(0))
        touched = sum(1 for s, e in incidents if s < hi and (e is None or e > lo))
        bars.append(Day(day, min(measured, hi - lo), min(down, hi - lo), touched))
    return bars
