"""The 90 daily bars of a service on the status page (a pure function of data and ``now``).

A day's availability is the share of its *measured* time that was not in outage. Measured
time comes from the hourly roll-ups (an hour with samples counts whole) and, for the hours
not rolled up yet, from the first raw sample on. A day nobody measured is "no data", never
100 %: a status page that paints the days outagewatch itself was down green would lie.
Days are the platform's calendar days, in its own zone.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

HOUR = timedelta(hours=1)
Interval = tuple[datetime, datetime | None]  # an open end runs until now
Level = Literal["none", "ok", "degraded", "partial", "major"]
# Below this a day is shown as a major outage; above it (but not 100 %) as partial.
MAJOR_BELOW = 99.0


@dataclass(frozen=True)
class Day:
    day: date
    measured: timedelta
    down: timedelta
    incidents: int
    degraded: timedelta = timedelta(0)  # below an outage: slow, or a platform-health concern

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
            return "degraded" if self.degraded > timedelta(0) else "ok"
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
        worse = ", degraded performance" if self.degraded > timedelta(0) else ""
        return f"{when}: {shown} % available{worse}, {count}"


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
    degradations: Sequence[Interval] = (),
) -> list[Day]:
    """``days`` bars, oldest first, the last one today (up to ``now``)."""
    return group_bars(
        days=days, now=now, zone=zone, hours=((h, 1) for h in hours),
        tails=[tail_from] if tail_from is not None else [], outages=outages,
        incidents=incidents, degradations=degradations, members=1,
    )  # fmt: skip


def group_bars(
    *,
    days: int,
    now: datetime,
    zone: ZoneInfo,
    hours: Iterable[tuple[datetime, int]],
    tails: Sequence[datetime],
    outages: Sequence[Interval],
    incidents: Sequence[Interval],
    members: int,
    degradations: Sequence[Interval] = (),
) -> list[Day]:
    """The bars of ``members`` services taken together: a day's measured and down time are
    the sums over them (so its availability is the share of service time not in outage);
    ``hours`` gives each measured hour with the number of services measured in it."""
    today = now.astimezone(zone).date()
    dates = [today - timedelta(days=back) for back in range(days - 1, -1, -1)]
    # Where each day begins, in UTC (comparing times of one tzinfo is a plain comparison;
    # mixing zones asks each for its offset); the last entry is where the bars end (now).
    edges = [day_bounds(d, zone)[0].astimezone(UTC) for d in dates] + [now.astimezone(UTC)]
    measured = [timedelta(0)] * days
    for hour, count in hours:
        # 2,160 hours per service: each is filed by bisection, and only an hour that crosses
        # a day's edge (a zone with a half-hour offset) or reaches now is cut in pieces.
        at = bisect_right(edges, hour) - 1
        end = hour + HOUR
        if 0 <= at < days and end <= edges[at + 1]:
            measured[at] += HOUR * count
            continue
        for index in range(max(at, 0), days):
            if edges[index] >= end:
                break
            measured[index] += _overlap(hour, end, edges[index], edges[index + 1]) * count
    for tail in tails:  # raw samples not rolled up yet: from the first one until now
        for index in range(max(bisect_right(edges, tail) - 1, 0), days):
            measured[index] += _overlap(tail, now, edges[index], edges[index + 1])
    bars = []
    for index, day in enumerate(dates):
        lo, hi = edges[index], edges[index + 1]
        seen = measured[index]
        down = sum((_overlap(s, e or now, lo, hi) for s, e in outages), timedelta(0))
        touched = sum(1 for s, e in incidents if s < hi and (e is None or e > lo))
        worse = sum((_overlap(s, e or now, lo, hi) for s, e in degradations), timedelta(0))
        whole = (hi - lo) * members
        bars.append(Day(day, min(seen, whole), min(down, whole), touched, min(worse, whole)))
    return bars
