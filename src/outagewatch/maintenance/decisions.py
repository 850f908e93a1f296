"""Maintenance windows and what to announce (DESIGN sections 1 and 5), as pure decisions.

Planned maintenance is announced three business days ahead on the platform's
informational lists, with another mail when it starts and when it finishes (saying
whether it was successful); emergency maintenance is announced at once and its lead time
recorded. Like incidents/decisions.py, every function takes ``now`` and returns a
``MaintenanceDecision``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import holidays


@dataclass(frozen=True)
class Window:
    """A maintenance window of a service as the outage rule reads it (detection/rule.py):
    ``start`` inclusive, ``end`` exclusive."""

    start: datetime
    end: datetime


Kind = Literal["planned", "emergency"]
MaintenanceState = Literal["scheduled", "in_progress", "finished", "cancelled"]
NoticeKind = Literal["announced", "started", "finished", "extended", "cancelled", "auto_finished"]
BUSINESS_DAYS_AHEAD = 3
MAX_LENGTH = timedelta(days=7)


class MaintenanceError(ValueError):
    """Input no window could accept; the API answers 422."""


class TooSoon(MaintenanceError):
    def __init__(self, earliest: datetime) -> None:
        super().__init__(
            f"a planned window must start at least {BUSINESS_DAYS_AHEAD} business days after "
            f"it is announced: the earliest allowed start is {earliest.isoformat()}"
            " (or ask for kind emergency)"
        )
        self.earliest = earliest


class MaintenanceConflict(MaintenanceError):
    """An action the window's state does not allow: 409."""


@functools.lru_cache(maxsize=32)
def _holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year))


def is_business_day(day: date, country: str | None) -> bool:
    if day.weekday() >= 5:
        return False
    return country is None or day not in _holidays(country, day.year)


def earliest_planned_start(announced: datetime, zone: ZoneInfo, country: str | None) -> datetime:
    """The announcement moment moved on by three business days in the platform's zone, at
    the same local time of day: announced Monday 10:00, it may start Thursday 10:00; over
    a weekend or a public holiday of the platform's country those days do not count."""
    local = announced.astimezone(zone)
    day, counted = local.date(), 0
    while counted < BUSINESS_DAYS_AHEAD:
        day += timedelta(days=1)
        counted += is_business_day(day, country)
    naive = datetime.combine(day, local.time().replace(tzinfo=None))
    return naive.replace(tzinfo=zone).astimezone(announced.tzinfo)


@dataclass(frozen=True)
class Maintenance:
    ref: str
    platform: str
    services: tuple[str, ...]
    kind: Kind
    state: MaintenanceState
    starts_at: datetime
    ends_at: datetime
    expected_impact: str
    announced_at: datetime
    announced_by: str
    successful: bool | None = None
    outcome_note: str | None = None
    finished_at: datetime | None = None
    finished_by: str | None = None
    id: int | None = None

    @property
    def lead_time(self) -> timedelta:
        return self.starts_at - self.announced_at

    def window(self) -> Window | None:
        """The time during which bad samples of its services do not count (DESIGN 3)."""
        ended = self.state in ("cancelled", "finished") and self.finished_at is not None
        if ended and self.finished_at is not None:
            end = min(self.ends_at, self.finished_at)
        else:
            end = self.ends_at
        return Window(self.starts_at, end) if end > self.starts_at else None


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    note: str | None = None


@dataclass(frozen=True)
class MaintenanceDecision:
    maintenance: Maintenance
    notices: tuple[Notice, ...] = ()


def announce(
    *,
    ref: str,
    platform: str,
    services: tuple[str, ...],
    known_services: Iterable[str],
    kind: Kind,
    starts_at: datetime,
    ends_at: datetime,
    expected_impact: str,
    actor: str,
    now: datetime,
    zone: ZoneInfo,
    country: str | None,
) -> MaintenanceDecision:
    known = set(known_services)
    unknown = [s for s in services if s not in known]
    if unknown:
        raise MaintenanceError(f"unknown services for {platform}: {', '.join(unknown)}")
    if ends_at <= starts_at:
        raise MaintenanceError("ends_at must be after starts_at")
    if ends_at - starts_at > MAX_LENGTH:
        raise MaintenanceError("a window may last 7 days at most; announce another one")
    if ends_at <= now:
        raise MaintenanceError("ends_at is in the past")
    if kind == "planned":
        earliest = earliest_planned_start(now, zone, country)
        if starts_at < earliest:
            raise TooSoon(earliest)
    window = Maintenance(
        ref=ref, platform=platform, services=services or tuple(sorted(known)), kind=kind,
        state="scheduled", starts_at=starts_at, ends_at=ends_at, expected_impact=expected_impact,
        announced_at=now, announced_by=actor,
    )  # fmt: skip
    return MaintenanceDecision(window, (Notice("announced"),))


def due(
    window: Maintenance, now: datetime, grace: timedelta, healthy: bool | None
) -> MaintenanceDecision:
    """Start a window whose time has come; finish one nobody finished by ``ends_at + grace``,
    judging success from the probes (``healthy``: every affected service's last samples
    good)."""
    if window.state == "scheduled" and now >= window.starts_at:
        return MaintenanceDecision(replace(window, state="in_progress"), (Notice("started"),))
    if window.state == "in_progress" and now >= window.ends_at + grace and healthy is not None:
        note = "Finished by outagewatch: nobody reported the outcome; judged from the probes."
        done = replace(
            window, state="finished", successful=healthy, finished_at=now,
            finished_by="outagewatch", outcome_note=note,
        )  # fmt: skip
        return MaintenanceDecision(done, (Notice("finished"), Notice("auto_finished")))
    return MaintenanceDecision(window)


def needs_judgement(window: Maintenance, now: datetime, grace: timedelta) -> bool:
    return window.state == "in_progress" and now >= window.ends_at + grace


def finish(
    window: Maintenance, successful: bool, actor: str, now: datetime, note: str | None = None
) -> MaintenanceDecision:
    if window.state != "in_progress":
        raise MaintenanceConflict(
            f"maintenance {window.ref} is {window.state.replace('_', ' ')}; only one in "
            "progress can be finished (cancel a scheduled one)"
        )
    done = replace(
        window, state="finished", successful=successful, outcome_note=note, finished_at=now,
        finished_by=actor,
    )  # fmt: skip
    return MaintenanceDecision(done, (Notice("finished", note),))


def extend(
    window: Maintenance, ends_at: datetime, actor: str, now: datetime
) -> MaintenanceDecision:
    if window.state not in ("scheduled", "in_progress"):
        raise MaintenanceConflict(f"maintenance {window.ref} is {window.state}")
    if ends_at <= window.ends_at or ends_at <= now:
        raise MaintenanceError("the new ends_at must be later than the current one and than now")
    if ends_at - window.starts_at > MAX_LENGTH:
        raise MaintenanceError("a window may last 7 days at most")
    return MaintenanceDecision(
        replace(window, ends_at=ends_at), (Notice("extended", f"by {actor}"),)
    )


def cancel(
    window: Maintenance, actor: str, now: datetime, note: str | None = None
) -> MaintenanceDecision:
    if window.state not in ("scheduled", "in_progress"):
        raise MaintenanceConflict(f"maintenance {window.ref} is {window.state}")
    done = replace(window, state="cancelled", finished_at=now, finished_by=actor, outcome_note=note)
    return MaintenanceDecision(done, (Notice("cancelled", note),))
