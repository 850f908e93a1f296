"""Whole incident timelines with a controlled clock, down to the mails the lists receive."""

from __future__ import annotations

from datetime import timedelta

import pytest

from outagewatch.incidents import decisions as decide

from .world import LISTS, World, at, customer, subjects, text

DE1 = "[OX Cloud EU de-1]"


async def test_single_outage_detected_hourly_updates_restored(world: World) -> None:
    await world.outage("eu-de-1", "imap", at(-15), at(0))
    mails = await world.run(at(0))
    assert subjects(mails) == [f"{DE1} [Sev 2] Outage: IMAP — detected"]
    oncall = [m for m in mails if str(m["Subject"]).startswith("[on-call]")]
    assert [str(m["To"]) for m in oncall] == ["oncall@example.net"]
    detected = customer(mails)[0]
    assert str(detected["To"]) == LISTS["eu-de-1"][0]
    root = str(detected["Message-ID"])
    body = text(detected)
    assert "we have detected an outage on OX Cloud EU de-1" in body
    assert "Since:        2026-11-23 09:45 UTC (2026-11-23 10:45 CET, Europe/Berlin)" in body
    assert "User impact:  Users cannot read their mail in their mail programs" in body
    assert "Expected time to restoration: not yet known" in body
    assert "by 2026-11-23 11:00 UTC (2026-11-23 12:00 CET, Europe/Berlin)" in body
    html = detected.get_body(("html",))
    assert html is not None  # the HTML alternative says the same, with the facts as a table
    page = html.get_content()
    assert "<th" in page and ">Incident</th><td>OW-20261123-0001</td>" in page
    assert "Users cannot read their mail in their mail programs" in page

    assert subjects(await world.run(at(59))) == []
    updates = customer(await world.run(at(60))) + customer(await world.run(at(120)))
    assert [str(m["Subject"]) for m in updates] == [
        f"{DE1} [Sev 2] Outage: IMAP — update 1",
        f"{DE1} [Sev 2] Outage: IMAP — update 2",
    ]
    await world.restored("eu-de-1", "imap", at(-15), at(130))
    final = customer(await world.run(at(131)))
    assert [str(m["Subject"]) for m in final] == [f"{DE1} [Sev 2] Outage: IMAP — restored"]
    for mail in [*updates, *final]:
        assert str(mail["In-Reply-To"]) == root
        assert root in str(mail["References"])
    assert subjects(await world.run(at(300))) == []  # nothing after restoration


async def test_second_service_joins_then_partial_recovery(world: World) -> None:
    await world.outage("eu-de-1", "imap", at(-15), at(0))
    await world.run(at(0))
    await world.outage("eu-de-1", "smtp", at(5), at(20))
    joined = customer(await world.run(at(20)))
    assert [str(m["Subject"]) for m in joined] == [f"{DE1} [Sev 2] Outage: IMAP, SMTP — update 1"]
    assert "SMTP is now affected as well" in text(joined[0])
    assert subjects(await world.run(at(79))) == []  # the join restarted the cadence
    await world.restored("eu-de-1", "imap", at(-15), at(40))
    partial = customer(await world.run(at(41)))
    assert "IMAP has recovered" in text(partial[0])
    assert "Still down:   SMTP" in text(partial[0])
    await world.restored("eu-de-1", "smtp", at(5), at(50))
    assert subjects(await world.run(at(51))) == [f"{DE1} [Sev 2] Outage: IMAP, SMTP — restored"]


async def test_flapping_service_sends_no_mail_storm(world: World) -> None:
    # Restoration needs restore_after good samples, so the detector itself damps flapping;
    # what reaches the incident engine is one outage, and one restoration.
    await world.outage("eu-de-1", "pop3", at(-15), at(0))
    await world.run(at(0))
    for minute in range(1, 30):
        assert subjects(await world.run(at(minute))) == []
    await world.restored("eu-de-1", "pop3", at(-15), at(30))
    assert len(subjects(await world.run(at(31)))) == 1


async def test_two_platforms_each_list_hears_only_of_its_own(world: World) -> None:
    await world.outage("eu-de-1", "imap", at(-15), at(0))
    await world.outage("us", "webmail", at(-15), at(0))
    mails = customer(await world.run(at(0)))
    by_list = {str(m["To"]): str(m["Subject"]) for m in mails}
    assert by_list == {
        LISTS["eu-de-1"][0]: f"{DE1} [Sev 2] Outage: IMAP — detected",
        LISTS["us"][0]: "[OX Cloud US] [Sev 2] Outage: Web-Mail — detected",
    }


async def test_engineer_message_resets_cadence_and_per_incident_cadence(world: World) -> None:
    await world.outage("eu-de-1", "imap", at(-15), at(0))
    await world.run(at(0))
    ref = "OW-20261123-0001"
    await world.act(ref, lambda i, p: decide.acknowledge(i, "alice", at(2)), at(2))
    message = "A storage node failed; failover runs."
    await world.act(
        ref,
        lambda i, p: decide.post_update(i, p, "alice", at(25), message=message, etr=at(90)),
        at(25),
    )
    mails = customer(await world.run(at(25)))
    body = text(mails[0])
    assert "A storage node failed; failover runs." in body
    assert "2026-11-23 11:30 UTC (2026-11-23 12:30 CET, Europe/Berlin)" in body  # the ETR
    assert subjects(await world.run(at(84))) == []
    assert len(subjects(await world.run(at(85)))) == 1  # an hour after the engineer's mail
    await world.act(
        ref,
        lambda i, p: decide.post_update(i, p, "alice", at(86), update_every=timedelta(minutes=30)),
        at(86),
    )
    assert subjects(await world.run(at(114))) == []
    assert len(subjects(await world.run(at(115)))) == 1  # 30 min after the last mail


async def test_customer_reported_incident(world: World) -> None:
    def build(platform: decide.PlatformInfo, ref: str) -> decide.IncidentDecision:
        return decide.open_reported(
            platform, ("webmail",), ticket="T-4711", ref=ref, actor="alice", now=at(0),
            user_impact="Users cannot log in to webmail.",
        )  # fmt: skip

    incident = await world.engine.open_reported("eu-de-1", build, at(0))
    mails = customer(await world.run(at(0)))
    body = text(mails[0])
    assert "following your report" in body and "T-4711" in body
    assert "Users cannot log in to webmail." in body
    await world.act(
        incident.ref, lambda i, p: decide.restore_by_hand(i, p, "alice", at(45)), at(45)
    )
    assert subjects(await world.run(at(45))) == [f"{DE1} [Sev 2] Outage: Web-Mail — restored"]


async def test_oncall_repeats_until_acknowledged(world: World) -> None:
    await world.outage("eu-de-1", "imap", at(-15), at(0))
    await world.run(at(0))
    reminders = [m for m in await world.run(at(10)) if "[on-call]" in str(m["Subject"])]
    assert [str(m["Subject"]) for m in reminders] == [
        "[on-call] [OX Cloud EU de-1] [Sev 2] Outage: IMAP — not acknowledged"
    ]
    await world.act("OW-20261123-0001", lambda i, p: decide.acknowledge(i, "bob", at(12)), at(12))
    assert [m for m in await world.run(at(30)) if "[on-call]" in str(m["Subject"])] == []


async def test_relay_down_for_three_hours_loses_nothing(world: World) -> None:
    await world.sink.set_refusing(True)
    await world.outage("eu-de-1", "imap", at(-15), at(0))
    gauges = []
    for minute in range(0, 181):
        assert await world.run(at(minute)) == []
        if minute == 90:
            await world.outage("eu-de-1", "smtp", at(80), at(90))
        gauges.append(
            (
                world.metrics.registry.get_sample_value("outagewatch_outbox_pending"),
                world.metrics.registry.get_sample_value(
                    "outagewatch_outbox_oldest_pending_seconds"
                ),
            )
        )
    pending, oldest = gauges[-1]
    # detected and on-call wait; the updates and the reminders each collapsed into one
    assert pending == 4
    assert oldest == pytest.approx(180 * 60)
    await world.sink.set_refusing(False)
    mails: list = []
    for minute in range(181, 200):  # the next retry comes within the backoff cap
        mails += await world.run(at(minute))
    got = subjects(mails)
    assert got == [
        f"{DE1} [Sev 2] Outage: IMAP — detected",
        f"{DE1} [Sev 2] Outage: IMAP, SMTP — update 1",
    ]
    assert "SMTP is now affected as well" in text(customer(mails)[1])
    ids = [str(m["Message-ID"]) for m in customer(mails)]
    assert ids[0] == "<OW-20261123-0001.0.detected@example.net>"  # its original Message-ID
    reminders = [str(m["Subject"]) for m in mails if str(m["Subject"]).startswith("[on-call]")]
    assert reminders[0].endswith("— detected")  # the first on-call mail is never superseded
    assert reminders[1].endswith("— not acknowledged (18 reminders)")
    assert world.metrics.registry.get_sample_value("outagewatch_outbox_pending") == 0


async def test_open_incidents_gauge(world: World) -> None:
    await world.outage("eu-de-1", "imap", at(-15), at(0))
    await world.run(at(0))
    await world.engine.export_open(world.metrics.incidents_open)

    def value(platform: str, severity: str) -> float | None:
        return world.metrics.registry.get_sample_value(
            "outagewatch_incidents_open", {"platform": platform, "severity": severity}
        )

    assert value("eu-de-1", "2") == 1 and value("eu-de-1", "1") == 0 and value("us", "2") == 0
    await world.restored("eu-de-1", "imap", at(-15), at(30))
    await world.run(at(31))
    await world.engine.export_open(world.metrics.incidents_open)
    assert value("eu-de-1", "2") == 0
