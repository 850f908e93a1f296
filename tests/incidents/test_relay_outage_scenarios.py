"""What the lists receive when the relay fails during an incident: one current update, not a
pile; "detected" and "restored" in order; a fallback relay after ``failover_after``.
Controlled clock, real SMTP sinks (sim/ on loopback), the real API for the record."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from outagewatch.incidents import decisions as decide
from outagewatch.incidents.mails import Audience
from outagewatch.sim import SmtpServer

from ..api.harness import start_api
from .world import World, at, config_for, customer, subjects, text

DE1 = "[OX Cloud EU de-1] [Sev 2] Outage: IMAP"
REF = "OW-20261123-0001"
FAILOVER = "The storage backend is being failed over."
REINDEX = "Failover done; the mailboxes are being re-indexed."


def when(world: World, minute: float) -> str:
    audience: Audience = world.engine.audiences["eu-de-1"]
    return audience.when(at(minute))


async def post(world: World, minute: float, message: str) -> None:
    await world.act(
        REF, lambda i, p: decide.post_update(i, p, "alice", at(minute), message=message), at(minute)
    )


def received(sink: SmtpServer) -> list[EmailMessage]:
    return [message_from_bytes(m.data, policy=policy.default) for m in sink.messages]  # type: ignore[misc]


async def api_notifications(world: World, tmp_path: Path) -> list[dict[str, Any]]:
    api = await start_api(world.db, tmp_path)
    try:
        headers = {"Authorization": f"Bearer {api.tokens['viewer']}"}
        async with api.client.get(f"/api/v1/incidents/{REF}", headers=headers) as response:
            assert response.status == 200
            shown = await response.json()
    finally:
        await api.client.close()
    return [n for n in shown["notifications"] if n["audience"] == "customer"]


async def test_three_hours_without_relay_give_one_update_with_both_messages(
    world: World, tmp_path: Path
) -> None:
    await world.outage("eu-de-1", "imap", at(-15), at(0))
    assert subjects(await world.run(at(0))) == [f"{DE1} — detected"]
    assert subjects(await world.run(at(60))) == [f"{DE1} — update 1"]

    await world.sink.set_refusing(True)  # the relay is down from minute 61 to minute 241
    for minute in range(61, 241):
        if minute == 90:
            await post(world, 90, FAILOVER)
        if minute == 150:
            await post(world, 150, REINDEX)
        assert await world.run(at(minute)) == []
    await world.sink.set_refusing(False)

    back = customer(await world.run(at(241)))  # the relay check notices it at once
    assert [str(m["Subject"]) for m in back] == [f"{DE1} — update 2"]
    body = text(back[0])
    assert body.index(FAILOVER) < body.index(REINDEX)
    assert f"* {when(world, 90)}: {FAILOVER}" in body
    assert f"* {when(world, 150)}: {REINDEX}" in body
    assert "The outage continues" not in body
    # Written anew when the relay answered: it promises the next update an hour from now.
    assert f"The next update follows by {when(world, 301)}" in body
    assert str(back[0]["Date"]) == "Mon, 23 Nov 2026 14:01:00 +0000"

    for minute in range(242, 301):
        assert subjects(await world.run(at(minute))) == []
    assert subjects(await world.run(at(301))) == [f"{DE1} — update 3"]

    rows = await api_notifications(world, tmp_path)
    delivered = [(n["kind"], n["subject"]) for n in rows if n["state"] == "sent"]
    assert delivered == [
        ("detected", f"{DE1} — detected"),
        ("update", f"{DE1} — update 1"),
        ("update", f"{DE1} — update 2"),
        ("update", f"{DE1} — update 3"),
    ]
    superseded = [n for n in rows if n["state"] == "superseded"]
    # The message at 90, the one at 150, the hourly update due at 210: each was written
    # and superseded by the next, the last by the mail written when the relay came back.
    assert len(superseded) == 3
    assert all(n["sent_at"] is None and n["kind"] == "update" for n in superseded)
    carrier = next(n for n in rows if n["subject"] == f"{DE1} — update 2" and n["state"] == "sent")
    assert superseded[-1]["superseded_by"] == carrier["id"]
    assert carrier["stands_for"] == 4


@pytest.mark.parametrize("down_from", [-1, 30], ids=["before-detection", "after-detection"])
async def test_relay_down_while_the_incident_is_restored(world: World, down_from: int) -> None:
    await world.outage("eu-de-1", "imap", at(-15), at(0))
    mails = []
    if down_from > 0:
        mails += await world.run(at(0))
    await world.sink.set_refusing(True)
    for minute in range(max(down_from, 0), 150):
        if minute == 100:
            await post(world, 100, FAILOVER)
        assert await world.run(at(minute)) == []
    await world.restored("eu-de-1", "imap", at(-15), at(150))
    for minute in range(150, 200):
        assert await world.run(at(minute)) == []
    await world.sink.set_refusing(False)
    for minute in range(200, 203):
        mails += await world.run(at(minute))

    assert subjects(mails) == [f"{DE1} — detected", f"{DE1} — restored"]  # no stale update
    restored = text(customer(mails)[1])
    assert f"* {when(world, 100)}: {FAILOVER}" in restored  # what the update would have said
    assert "the outage on OX Cloud EU de-1 is over" in restored


async def test_oncall_reminders_collapse_into_one_with_their_count(world: World) -> None:
    await world.sink.set_refusing(True)
    await world.outage("eu-de-1", "imap", at(-15), at(0))
    for minute in range(0, 45):
        assert await world.run(at(minute)) == []
    await world.sink.set_refusing(False)
    oncall = [m for m in await world.run(at(45)) if str(m["Subject"]).startswith("[on-call]")]
    assert [str(m["Subject"]).rsplit(" — ", 1)[1] for m in oncall] == [
        "detected",
        "not acknowledged (4 reminders)",
    ]
    assert "This one reminder stands for 4" in text(oncall[1])


async def test_fallback_relay_after_failover_after_and_back_to_the_primary(
    tmp_path: Path,
) -> None:
    async with SmtpServer() as primary, SmtpServer() as fallback:
        config = config_for(
            primary.port, tmp_path / "ow.db",
            smtp={"fallback": [{"host": "127.0.0.1", "port": fallback.port, "tls": "none"}]},
            outbox={"failover_after": "5m"},
        )  # fmt: skip
        world = World(primary, config)
        await world.start()
        try:
            await primary.set_refusing(True)
            await world.outage("eu-de-1", "imap", at(-15), at(0))
            for minute in range(0, 5):
                assert await world.run(at(minute)) == []
            assert fallback.messages == []
            await world.run(at(5))  # primary failing for failover_after: the fallback
            got = received(fallback)
            assert [str(m["Subject"]) for m in customer(got)] == [f"{DE1} — detected"]
            assert str(customer(got)[0]["Message-ID"]) == f"<{REF}.0.detected@example.net>"
            up = world.metrics.registry.get_sample_value
            assert up("outagewatch_relay_up", {"relay": f"127.0.0.1:{primary.port}"}) == 0

            await primary.set_refusing(False)
            await world.run(at(6))  # the primary answers its check
            assert up("outagewatch_relay_up", {"relay": f"127.0.0.1:{primary.port}"}) == 1
            assert subjects(await world.run(at(60))) == [f"{DE1} — update 1"]  # via primary
            assert len(customer(received(fallback))) == 1

            rows = await api_notifications(world, tmp_path)
            relays = [(n["kind"], n["relay"]) for n in rows]
            assert relays == [
                ("detected", f"127.0.0.1:{fallback.port}"),
                ("update", f"127.0.0.1:{primary.port}"),
            ]
            assert rows[0]["attempts"] == 5  # four on the primary (0, 0.5, 2, 4 min), then one
        finally:
            await world.close()


async def test_a_waiting_reminder_is_withdrawn_by_the_acknowledgement(
    world: World, tmp_path: Path
) -> None:
    await world.sink.set_refusing(True)
    await world.outage("eu-de-1", "imap", at(-15), at(0))
    for minute in range(0, 35):
        assert await world.run(at(minute)) == []
    await world.act(REF, lambda i, p: decide.acknowledge(i, "bob", at(35)), at(35))
    await world.sink.set_refusing(False)
    oncall = [m for m in await world.run(at(36)) if str(m["Subject"]).startswith("[on-call]")]
    assert [str(m["Subject"]).rsplit(" — ", 1)[1] for m in oncall] == ["detected"]
    api = await start_api(world.db, tmp_path)
    try:
        headers = {"Authorization": f"Bearer {api.tokens['viewer']}"}
        async with api.client.get(f"/api/v1/incidents/{REF}", headers=headers) as response:
            rows = (await response.json())["notifications"]
    finally:
        await api.client.close()
    reminders = [(n["state"], n["stands_for"]) for n in rows if n["kind"] == "oncall_repeat"]
    assert reminders == [("superseded", 1), ("superseded", 2), ("superseded", 3)]
