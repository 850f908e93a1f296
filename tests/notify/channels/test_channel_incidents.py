"""A whole incident through every kind of channel: the pagers follow it (trigger,
acknowledge, resolve on one dedup key), the chats get one message per event, the
customers only mail; Sev 3 reaches chat only until it becomes Sev 2."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from outagewatch.incidents import decisions as decide
from outagewatch.sim import SmtpServer
from outagewatch.store.tables import notifications
from tests.notify.channels.receivers import SLACK_PATH, Receivers, receivers
from tests.notify.channels.world import (
    LIST,
    PUBLIC_URL,
    SECRETS,
    ChannelWorld,
    at,
    config_data,
    load,
)
from tests.notify.conftest import counted


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[ChannelWorld, Receivers, SmtpServer]]:
    async with SmtpServer() as sink, receivers() as peer:
        found = ChannelWorld(load(config_data(tmp_path / "ow.db", sink.port, peer.url)))
        await found.start()
        try:
            yield found, peer, sink
        finally:
            await found.close()
        assert peer.violations == []


async def test_a_full_incident_pages_and_chats_in_order(
    world: tuple[ChannelWorld, Receivers, SmtpServer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    w, peer, sink = world
    await w.outage("imap", at(-15), at(0))
    await w.run(at(0))
    ref = await w.only_ref()
    await w.act(ref, lambda i, p: decide.acknowledge(i, "alice", at(2)), at(2))
    await w.run(at(2))
    words = "Failover to the standby"
    await w.act(ref, lambda i, p: decide.post_update(i, p, "alice", at(5), message=words), at(5))
    await w.run(at(5))
    await w.restored("imap", at(-15), at(20))
    await w.run(at(20))

    pd = peer.of("pagerduty")
    assert [r.body["event_action"] for r in pd] == ["trigger", "acknowledge", "resolve"]
    assert {r.body["dedup_key"] for r in pd} == {ref}
    assert pd[0].body["links"][0]["href"].startswith(f"{PUBLIC_URL}/console/incidents/")
    og = peer.of("opsgenie")
    assert [r.body["action"] for r in og] == ["create", "acknowledge", "notes", "close"]
    assert og[0].body["alias"] == ref and "Failover to the standby" in og[2].body["note"]
    slack = [r.body["blocks"][0]["text"]["text"] for r in peer.of("slack")]
    assert [t.rsplit(" — ", 1)[1] for t in slack] == [
        "detected", "acknowledged by alice", "update 1", "restored"]  # fmt: skip
    cards = [r.body["attachments"][0]["content"] for r in peer.of("teams")]
    assert len(cards) == 4 and all(c["type"] == "AdaptiveCard" for c in cards)
    hooks = [r.body["type"] for r in peer.of("webhook")]
    assert hooks == ["incident.opened", "incident.acknowledged", "incident.update",
                     "incident.restored"]  # fmt: skip
    # Customers are only ever mailed; every channel row is for on-call.
    async with w.db.connect() as conn:
        rows = (await conn.execute(select(notifications))).mappings().all()
    assert {r["channel"] for r in rows if r["audience"] == "customer"} == {"mail"}
    assert {r["state"] for r in rows} == {"sent"}
    assert sum(LIST in m.rcpt_tos for m in sink.messages) == 3  # detected, update, restored
    assert counted(w.metrics, "opened", "sent", channel="pagerduty-ops") == 1
    assert counted(w.metrics, "restored", "sent", channel="hooks") == 1
    # Every log line but the stand-ins' own access log (which sees the URL it serves).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "aiohttp.access")
    assert "notification opened" in logged
    assert all(secret not in logged for secret in (*SECRETS.values(), SLACK_PATH))


async def test_sev3_goes_to_chat_only_until_it_becomes_sev2(
    world: tuple[ChannelWorld, Receivers, SmtpServer],
) -> None:
    w, peer, _ = world
    await w.outage("pop3", at(-15), at(0))  # POP3 alone: Sev 3
    await w.run(at(0))
    assert len(peer.of("slack")) == 1  # ops-chat hears of Sev 3 (its own min_severity)
    assert peer.of("pagerduty") == peer.of("opsgenie") == peer.of("teams") == []
    await w.outage("imap", at(-5), at(10))  # now Sev 2: the pagers are triggered
    await w.run(at(10))
    assert [r.body["event_action"] for r in peer.of("pagerduty")] == ["trigger"]
    assert [r.body["action"] for r in peer.of("opsgenie")] == ["create"]
    assert len(peer.of("slack")) == 2  # the update of the chat it already had
    assert peer.of("slack")[1].body["blocks"][0]["text"]["text"].endswith("update 1")


async def test_a_pager_failure_holds_its_own_thread_only(
    world: tuple[ChannelWorld, Receivers, SmtpServer],
) -> None:
    w, peer, _ = world
    peer.fault(503, vendor="pagerduty")
    await w.outage("imap", at(-15), at(0))
    await w.run(at(0))
    ref = await w.only_ref()
    await w.act(ref, lambda i, p: decide.acknowledge(i, "alice", at(0)), at(0))
    await w.run(at(0))
    assert peer.of("pagerduty") == []  # the trigger waits for its retry; the ack behind it
    assert len(peer.of("slack")) == 2  # the chat is not held up
    await w.run(at(1))  # after the backoff: trigger first, then the acknowledgement
    assert [r.body["event_action"] for r in peer.of("pagerduty")] == ["trigger", "acknowledge"]


async def test_retry_after_is_a_floor_and_a_refusal_fails_for_good(
    world: tuple[ChannelWorld, Receivers, SmtpServer], caplog: pytest.LogCaptureFixture
) -> None:
    w, peer, _ = world
    peer.fault(429, {"Retry-After": "120"}, vendor="pagerduty")
    peer.fault(400, vendor="opsgenie")
    await w.outage("imap", at(-15), at(0))
    await w.run(at(0))
    async with w.db.connect() as conn:
        rows = {r["channel"]: r for r in (await conn.execute(select(notifications))).mappings()}
    assert rows["pagerduty-ops"]["state"] == "pending"
    assert rows["pagerduty-ops"]["next_attempt_at"] == at(2)  # not the 1 s backoff
    assert rows["jsm-ops"]["state"] == "failed"
    assert "HTTP 400 scripted 400" in rows["jsm-ops"]["last_error"]
    assert "Opsgenie alerts: HTTP 400 scripted 400" in caplog.text
    assert counted(w.metrics, "opened", "failed", channel="jsm-ops") == 1
    assert counted(w.metrics, "opened", "retry", channel="pagerduty-ops") == 1
    await w.run(at(1))
    assert peer.of("pagerduty") == []
    await w.run(at(2))
    assert [r.body["event_action"] for r in peer.of("pagerduty")] == ["trigger"]
