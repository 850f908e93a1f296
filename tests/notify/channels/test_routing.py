"""Which channel hears what, as a table: pure, no database."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from outagewatch.incidents.channel_routing import incident_events, messages_for_channel
from outagewatch.incidents.decisions import Affected, Incident, Notice
from outagewatch.store.channel_alerts import AlertState

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
OPEN = Incident(ref="OW-1", platform="eu-de-1", state="open", origin="detected", severity=2,
                services=(Affected("imap", T0),), opened_at=T0, id=1)  # fmt: skip
ACKED = replace(OPEN, state="acknowledged", acknowledged_by="alice")
RESTORED = replace(OPEN, state="restored")


@pytest.mark.parametrize(
    ("before", "after", "notices", "expected"),
    [
        (OPEN, OPEN, ("detected", "oncall"), ["opened"]),
        (OPEN, ACKED, (), ["acknowledged"]),
        (ACKED, ACKED, ("update",), ["update"]),
        (OPEN, OPEN, ("oncall_repeat",), []),  # reminders stay mail
        (ACKED, RESTORED, ("restored",), ["restored"]),
        (RESTORED, replace(OPEN, state="closed"), (), []),
    ],
)  # fmt: skip
def test_what_happened_in_channel_words(
    before: Incident, after: Incident, notices: tuple[str, ...], expected: list[str]
) -> None:
    found = incident_events(before, after, [Notice(kind) for kind in notices])  # type: ignore[arg-type]
    assert [event for event, _ in found] == expected


@pytest.mark.parametrize(
    ("state", "events", "incident", "min_severity", "expected"),
    [
        ("new", ["opened"], OPEN, 2, ["opened"]),
        ("new", ["opened"], OPEN, 1, []),  # Sev 2 is not for a Sev 1-only pager
        ("new", ["update"], replace(OPEN, severity=1), 1, ["opened"]),  # it grew to Sev 1
        ("new", ["update"], replace(ACKED, severity=1), 1, ["opened", "acknowledged"]),
        ("new", ["restored"], RESTORED, 4, []),  # never heard of it: nothing to resolve
        ("open", ["acknowledged"], replace(ACKED, severity=4), 1, ["acknowledged"]),  # follows
        ("open", ["update", "restored"], RESTORED, 2, ["update", "restored"]),
        ("open", ["opened"], OPEN, 2, []),  # heard of it already
        ("closed", ["update"], OPEN, 2, []),
    ],
)  # fmt: skip
def test_a_channel_hears_from_the_first_qualifying_moment_to_the_end(
    state: AlertState, events: list[str], incident: Incident, min_severity: int,
    expected: list[str],
) -> None:  # fmt: skip
    planned = messages_for_channel(state, [(e, None) for e in events], incident, min_severity)  # type: ignore[misc]
    assert [event for event, _ in planned] == expected
