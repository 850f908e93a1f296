"""incidents/decisions.py over whole timelines, with a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outagewatch.incidents import decisions as decide
from outagewatch.incidents.decisions import IncidentError, PlatformInfo, ServiceInfo

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PLATFORM = PlatformInfo(
    id="eu-de-1",
    name="OX Cloud EU de-1",
    services={
        "webmail": ServiceInfo("Web-Mail", 2),
        "smtp": ServiceInfo("SMTP", 2),
        "imap": ServiceInfo("IMAP", 2),
        "pop3": ServiceInfo("POP3", 3),
    },
    update_every=HOUR,
    oncall_repeat=timedelta(minutes=10),
)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def kinds(decision: decide.IncidentDecision) -> list[str]:
    return [n.kind for n in decision.notices]


def opened(service: str = "imap") -> decide.IncidentDecision:
    return decide.open_for_outage(PLATFORM, service, at(-15), "OW-20261123-0001", at(0))


def test_opening_tells_customer_and_oncall_and_schedules_the_hourly_update() -> None:
    d = opened("pop3")
    assert kinds(d) == ["detected", "oncall"]
    assert d.incident.severity == 3  # pop3's configured severity
    assert d.incident.started_at == at(-15)
    assert d.incident.next_update_at == at(60)
    assert d.incident.oncall_next_at == at(10)


def test_update_every_hour_until_restored() -> None:
    incident = decide.acknowledge(opened().incident, "alice", at(1)).incident
    assert decide.due(incident, PLATFORM, at(59)).notices == ()
    d = decide.due(incident, PLATFORM, at(60))
    assert "update" in kinds(d)
    assert d.incident.updates_sent == 1
    assert d.incident.next_update_at == at(120)


def test_an_update_missed_while_down_goes_out_once_late() -> None:
    incident = decide.acknowledge(opened().incident, "alice", at(1)).incident
    d = decide.due(incident, PLATFORM, at(200))  # down from 0:30 to 3:20
    assert kinds(d) == ["update"]
    assert decide.due(d.incident, PLATFORM, at(200)).notices == ()  # never twice
    assert d.incident.next_update_at == at(260)


def test_second_service_joins_and_raises_nothing_twice() -> None:
    incident = opened("imap").incident
    d = decide.outage_joins(incident, PLATFORM, "smtp", at(5), at(20))
    assert kinds(d) == ["update"]
    assert "SMTP is now affected" in d.notices[0].changes[0]
    assert d.incident.next_update_at == at(80)  # the cadence restarts
    assert decide.outage_joins(d.incident, PLATFORM, "smtp", at(5), at(21)).notices == ()


def test_all_services_down_is_severity_1() -> None:
    incident = opened("imap").incident
    for service in ("smtp", "webmail", "pop3"):
        incident = decide.outage_joins(incident, PLATFORM, service, at(1), at(2)).incident
    assert incident.severity == 1


def test_partial_recovery_then_restoration() -> None:
    incident = opened("imap").incident
    incident = decide.outage_joins(incident, PLATFORM, "smtp", at(5), at(20)).incident
    d = decide.service_restored(incident, PLATFORM, "imap", at(30), at(31))
    assert kinds(d) == ["update"] and d.incident.state == "open"
    assert d.incident.down == ("smtp",)
    d = decide.service_restored(d.incident, PLATFORM, "smtp", at(40), at(41))
    assert kinds(d) == ["restored"]
    assert d.incident.state == "restored"
    assert d.incident.restored_at == at(40)
    assert d.incident.next_update_at is None and d.incident.oncall_next_at is None
    assert decide.due(d.incident, PLATFORM, at(500)).notices == ()


def test_flapping_service_rejoins_without_a_new_incident() -> None:
    incident = opened("imap").incident
    incident = decide.outage_joins(incident, PLATFORM, "smtp", at(1), at(2)).incident
    incident = decide.service_restored(incident, PLATFORM, "smtp", at(3), at(4)).incident
    d = decide.outage_joins(incident, PLATFORM, "smtp", at(5), at(6))
    assert "SMTP is unavailable again." in d.notices[0].changes


def test_oncall_repeats_until_acknowledged_but_customer_updates_go_on() -> None:
    incident = opened().incident
    d = decide.due(incident, PLATFORM, at(10))
    assert kinds(d) == ["oncall_repeat"]
    acked = decide.acknowledge(d.incident, "alice", at(12)).incident
    assert acked.acknowledged_by == "alice" and acked.oncall_next_at is None
    assert kinds(decide.due(acked, PLATFORM, at(60))) == ["update"]


def test_engineer_message_goes_out_at_once_and_restarts_the_cadence() -> None:
    incident = opened().incident
    d = decide.post_update(incident, PLATFORM, "alice", at(25), message="A disk array failed.")
    assert kinds(d) == ["update"]
    assert d.notices[0].message == "A disk array failed."
    assert d.incident.next_update_at == at(85)


def test_per_incident_cadence() -> None:
    incident = opened().incident
    d = decide.post_update(incident, PLATFORM, "alice", at(5), update_every=timedelta(minutes=30))
    assert d.notices == ()  # a new cadence alone is no news for the customer
    assert d.incident.next_update_at == at(30)
    assert kinds(decide.due(d.incident, PLATFORM, at(30))) == ["update", "oncall_repeat"]


def test_etr_and_severity_changes_are_news() -> None:
    incident = opened().incident
    d = decide.post_update(incident, PLATFORM, "bob", at(5), etr=at(90), severity=1)
    assert d.incident.etr == at(90) and d.incident.severity == 1
    assert len(d.notices[0].changes) == 2
    # Overridden severity is not re-derived when scope changes.
    joined = decide.outage_joins(d.incident, PLATFORM, "pop3", at(6), at(7)).incident
    assert joined.severity == 1 and joined.severity_overridden


def test_bad_actions_are_refused() -> None:
    incident = opened().incident
    with pytest.raises(IncidentError, match="in the past"):
        decide.post_update(incident, PLATFORM, "bob", at(5), etr=at(4))
    with pytest.raises(IncidentError, match="restore it before closing"):
        decide.close(incident, "bob", at(5))
    restored = decide.restore_by_hand(incident, PLATFORM, "bob", at(6)).incident
    closed = decide.close(restored, "bob", at(7)).incident
    with pytest.raises(IncidentError, match="only an open one"):
        decide.acknowledge(closed, "bob", at(8))
    with pytest.raises(IncidentError, match="closed"):
        decide.post_update(closed, PLATFORM, "bob", at(8), message="hello")


def test_customer_reported_incident_is_restored_by_hand_only() -> None:
    d = decide.open_reported(
        PLATFORM, ("webmail",), ticket="T-4711", ref="OW-1", actor="alice", now=at(0)
    )
    assert kinds(d) == ["detected", "oncall"]
    assert d.incident.origin == "customer" and d.incident.ticket == "T-4711"
    # A detected outage of another service joins; its recovery does not end the incident.
    joined = decide.outage_joins(d.incident, PLATFORM, "imap", at(1), at(2)).incident
    after = decide.service_restored(joined, PLATFORM, "imap", at(3), at(4)).incident
    assert after.state == "open" and after.down == ("webmail",)
    restored = decide.restore_by_hand(after, PLATFORM, "alice", at(30))
    assert kinds(restored) == ["restored"] and restored.incident.state == "restored"
    with pytest.raises(IncidentError, match="unknown services"):
        decide.open_reported(PLATFORM, ("gopher",), ticket="T", ref="OW-2", actor="a", now=at(0))


# --- services taken out of the config (a reload) -------------------------------------------

WITHOUT_IMAP = PlatformInfo(
    id=PLATFORM.id,
    name=PLATFORM.name,
    services={k: v for k, v in PLATFORM.services.items() if k != "imap"},
    update_every=HOUR,
    oncall_repeat=PLATFORM.oncall_repeat,
)


def test_the_last_down_service_unmonitored_closes_without_a_recovery() -> None:
    d = decide.services_unmonitored(opened("imap").incident, WITHOUT_IMAP, {"imap": "IMAP"}, at(5))
    assert kinds(d) == ["update"]  # said in the incident, never a "restored" mail
    (change, closing) = d.notices[0].changes
    assert change.startswith("IMAP is no longer monitored by us")
    assert "closed" in closing
    assert d.incident.state == "closed" and d.incident.closed_at == at(5)
    assert d.incident.restored_at is None
    (affected,) = d.incident.services
    assert (affected.restored_at, affected.unmonitored_at) == (None, at(5))
    assert d.incident.next_update_at is None and d.incident.oncall_next_at is None
    assert [kind for kind, _, _ in d.timeline] == ["unmonitored", "closed"]


def test_an_unmonitored_service_leaves_the_others_followed() -> None:
    incident = decide.outage_joins(
        opened("imap").incident, PLATFORM, "smtp", at(-3), at(2)
    ).incident
    d = decide.services_unmonitored(incident, WITHOUT_IMAP, {"imap": "IMAP"}, at(5))
    assert kinds(d) == ["update"]
    assert d.incident.state == "open" and d.incident.down == ("smtp",)
    assert d.incident.next_update_at == at(65)  # a customer mail restarts the cadence


def test_a_service_not_down_in_the_incident_changes_nothing() -> None:
    incident = opened("imap").incident
    assert decide.services_unmonitored(incident, PLATFORM, {"pop3": "POP3"}, at(5)).notices == ()
