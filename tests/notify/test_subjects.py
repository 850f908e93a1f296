"""A subject stays one short line however many services are down; the body names them all.

Found by the start-up benchmark: 100 services of one platform in outage made a subject of
more than 998 characters, the outbox refused it, and the incident's mails were never queued.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from outagewatch.incidents.decisions import Affected, Incident, Notice, PlatformInfo, ServiceInfo
from outagewatch.incidents.mails import SUBJECT_SERVICES, Audience, render, services_phrase

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([], ""),
        (["IMAP"], "IMAP"),
        (["IMAP", "SMTP", "POP3"], "IMAP, SMTP, POP3"),
        ([f"Service {n:03d}" for n in range(3)], "Service 000, Service 001, Service 002"),
        # Nine names of 11 characters fit in 120 (115 with the commas), the tenth would not.
        ([f"Service {n:03d}" for n in range(30)],
         ", ".join(f"Service {n:03d}" for n in range(9)) + " and 21 more"),
        (["x" * 300], "x" * 300),  # the first name is always there
        (["x" * 300, "IMAP"], "x" * 300 + ", IMAP"),  # the last one is named, not "1 more"
        (["x" * 300, "IMAP", "SMTP"], "x" * 300 + " and 2 more"),
    ],
)  # fmt: skip
def test_services_phrase(labels: list[str], expected: str) -> None:
    assert services_phrase(labels) == expected


def test_a_hundred_services_down_make_a_one_line_subject_and_a_full_body() -> None:
    names = [f"s{n:03d}" for n in range(150)]
    platform = PlatformInfo(
        id="eu-de-1",
        name="OX Cloud EU de-1",
        services={n: ServiceInfo(f"Mailbox shard {n}", 2) for n in names},
        update_every=timedelta(hours=1),
        oncall_repeat=timedelta(minutes=10),
    )
    audience = Audience(
        platform=platform,
        zone=ZoneInfo("Europe/Berlin"),
        incident_lists=("incidents-de-1@example.net",),
        protocols=dict.fromkeys(names, "imap"),
        oncall_email="oncall@example.net",
        domain="example.net",
    )
    incident = Incident(
        ref="OW-20261130-0001",
        platform="eu-de-1",
        state="open",
        origin="detected",
        severity=1,
        services=tuple(Affected(n, T0) for n in names),
        opened_at=T0 + timedelta(minutes=15),
        next_update_at=T0 + timedelta(hours=1, minutes=15),
        id=1,
    )
    mails = render(incident, Notice("detected"), audience, 0)
    assert mails
    for mail in mails:
        assert "\n" not in mail.subject
        assert len(mail.subject) < 80 + SUBJECT_SERVICES + 40
        assert mail.subject.endswith(" more — detected"), mail.subject
    customer = next(m for m in mails if m.audience == "customer")
    assert all(f"Mailbox shard {n}" in customer.body_text for n in names)
