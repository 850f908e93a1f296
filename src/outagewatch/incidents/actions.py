"""What an engineer can do to an incident, by name, and the decision each one makes.

The API and the console offer exactly these actions. Each face reads and validates its own
input (a JSON body, an HTML form) and answers in its own way; what an action decides is
said here once: built from the validated input, the engineer's name and ``now``, it is the
``IncidentAction`` the engine applies to the incident as it reads it in its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from outagewatch.incidents.decisions import acknowledge, close, post_update, restore_by_hand
from outagewatch.incidents.model import Incident, IncidentDecision, PlatformInfo

IncidentAction = Callable[[Incident, PlatformInfo], IncidentDecision]


class Noted(Protocol):
    """The input of an acknowledgement, a restoration by hand and a close."""

    @property
    def note(self) -> str | None: ...


class Updated(Protocol):
    """The input of an update: any of message, impact, ETR, cadence and severity."""

    @property
    def message(self) -> str | None: ...

    @property
    def user_impact(self) -> str | None: ...

    @property
    def etr(self) -> datetime | None: ...

    @property
    def severity(self) -> int | None: ...

    def cadence(self) -> timedelta | None: ...


def _acknowledge(given: Noted, actor: str, now: datetime) -> IncidentAction:
    return lambda incident, _: acknowledge(incident, actor, now, given.note)


def _update(given: Updated, actor: str, now: datetime) -> IncidentAction:
    return lambda incident, platform: post_update(
        incident, platform, actor, now, message=given.message, user_impact=given.user_impact,
        etr=given.etr, update_every=given.cadence(), severity=given.severity,
    )  # fmt: skip


def _restore(given: Noted, actor: str, now: datetime) -> IncidentAction:
    return lambda incident, platform: restore_by_hand(incident, platform, actor, now, given.note)


def _close(given: Noted, actor: str, now: datetime) -> IncidentAction:
    return lambda incident, _: close(incident, actor, now, given.note)


# Each action by name: how to build it from the validated input, the actor and ``now``.
ACTIONS: Mapping[str, Callable[[Any, str, datetime], IncidentAction]] = {
    "acknowledge": _acknowledge,
    "update": _update,
    "restore": _restore,
    "close": _close,
}
