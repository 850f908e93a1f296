"""What an incident is: its state, the services it affects, the notices it calls for, and
the decision that changes it. The decisions themselves are incidents/decisions.py's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

IncidentState = Literal["open", "acknowledged", "restored", "closed"]
ACTIVE: tuple[IncidentState, ...] = ("open", "acknowledged")
NoticeKind = Literal["detected", "update", "restored", "oncall", "oncall_repeat"]


class IncidentError(ValueError):
    """Input that no incident could accept (an ETR in the past); the API answers 422."""


class IncidentConflict(IncidentError):
    """An action that this incident's state does not allow (acking a closed one): 409."""


@dataclass(frozen=True)
class ServiceInfo:
    label: str  # as customers know it: "IMAP", "Web-Mail"
    severity: int  # when this service alone is down


@dataclass(frozen=True)
class PlatformInfo:
    id: str
    name: str
    services: Mapping[str, ServiceInfo]
    update_every: timedelta
    oncall_repeat: timedelta


@dataclass(frozen=True)
class Affected:
    service: str
    started_at: datetime
    restored_at: datetime | None = None
    reported: bool = False  # by the customer (ticket): restored by hand only
    # Dropped from the config while down: no longer followed, and never called recovered.
    unmonitored_at: datetime | None = None


@dataclass(frozen=True)
class Incident:
    ref: str
    platform: str
    state: IncidentState
    origin: Literal["detected", "customer"]
    severity: int
    services: tuple[Affected, ...]
    opened_at: datetime
    severity_overridden: bool = False
    ticket: str | None = None
    user_impact: str | None = None
    etr: datetime | None = None
    update_every: timedelta | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    restored_at: datetime | None = None
    closed_at: datetime | None = None
    last_customer_mail_at: datetime | None = None
    next_update_at: datetime | None = None
    updates_sent: int = 0
    oncall_next_at: datetime | None = None
    id: int | None = None

    @property
    def started_at(self) -> datetime:
        return min(a.started_at for a in self.services)

    @property
    def down(self) -> tuple[str, ...]:
        return tuple(
            a.service for a in self.services if a.restored_at is None and a.unmonitored_at is None
        )

    def cadence(self, platform: PlatformInfo) -> timedelta:
        return self.update_every or platform.update_every


@dataclass(frozen=True)
class Notice:
    kind: NoticeKind
    changes: tuple[str, ...] = ()  # what changed, in customer words, for the update mail
    message: str | None = None  # an engineer's words
    # Set by the engine when this notice supersedes undelivered ones: everything the
    # recipients have not been told yet, (time, text) in order, its own news included.
    news: tuple[tuple[datetime, str], ...] = ()
    stands_for: int = 1  # notices it carries: itself and those it superseded

    def told(self, now: datetime) -> tuple[tuple[datetime, str], ...]:
        """What this notice itself tells, at ``now``: the engineer's words, then changes."""
        said = (self.message,) if self.message else ()
        return tuple((now, text) for text in (*said, *self.changes))


@dataclass(frozen=True)
class IncidentDecision:
    incident: Incident
    notices: tuple[Notice, ...] = ()
    timeline: tuple[tuple[str, str, dict[str, str]], ...] = field(default=())  # kind, actor, detail
    # Notices still waiting to be sent that no longer hold (a reminder after the ack).
    withdrawn: tuple[NoticeKind, ...] = ()
