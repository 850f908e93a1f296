"""Which channel hears what of an incident: pure, from the incident before and after a
decision and the notices it made.

A channel first hears of an incident when it is active and at least as severe as the
channel's ``min_severity`` (an incident that opens at Sev 3 and becomes Sev 2 pages then);
from that moment it follows the incident to its restoration, whatever the severity does.
On-call reminders stay mail: a pager escalates on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

from outagewatch.incidents.decisions import ACTIVE, Incident, Notice
from outagewatch.notify.channels.base import Event
from outagewatch.store.channel_alerts import AlertState


def incident_events(
    before: Incident | None, after: Incident, notices: Sequence[Notice]
) -> list[tuple[Event, Notice | None]]:
    """What happened, in channel words, each with the notice that said it (if any)."""
    found: list[tuple[Event, Notice | None]] = []
    for notice in notices:
        if notice.kind == "detected":
            found.append(("opened", notice))
    if before is not None and before.state == "open" and after.state == "acknowledged":
        found.append(("acknowledged", None))
    for notice in notices:
        if notice.kind == "update":
            found.append(("update", notice))
        elif notice.kind == "restored":
            found.append(("restored", notice))
    return found


def messages_for_channel(
    state: AlertState,
    events: Sequence[tuple[Event, Notice | None]],
    incident: Incident,
    min_severity: int,
) -> list[tuple[Event, Notice | None]]:
    """The messages one channel gets, given what it has heard of the incident so far."""
    if state == "closed" or not events:
        return []
    if state == "open":
        return [(event, notice) for event, notice in events if event != "opened"]
    if incident.state not in ACTIVE or incident.severity > min_severity:
        return []
    opening = next((n for e, n in events if e == "opened"), None)
    first: list[tuple[Event, Notice | None]] = [("opened", opening)]
    if incident.state == "acknowledged":
        first.append(("acknowledged", None))  # it was acked before it qualified
    return first
