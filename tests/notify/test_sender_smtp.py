"""The sender against a real SMTP relay on loopback (aiosmtpd), with a controlled clock."""

from __future__ import annotations

import base64
import itertools
import logging
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.metrics import Metrics
from outagewatch.notify import outbox
from outagewatch.notify.delivery import Delivery
from outagewatch.notify.outbox import Notification
from outagewatch.notify.sender import Sender
from outagewatch.store.tables import notifications
from tests.notify.conftest import (
    PASSWORD,
    S451_TRY_LATER,
    S550_NO_SUCH_USER,
    T0,
    USERNAME,
    LoopbackRelay,
    StartRelay,
    counted,
)

SUBJECT = "[OX Cloud EU de-1] [Sev 2] Outage: IMAP — detected"
ROOT_ID = "<OW-20261123-0007.0.detected@example.net>"
LISTS = ("incidents-de-1@example.net", "noc-copy@example.net")


def mail(n: int = 1, thread: str = "incident:7", **changes: object) -> Notification:
    fields: dict[str, object] = {
        "thread": thread,
        "incident_id": 7,
        "kind": "update",
        "audience": "customer",
        "channel": "mail",
        "recipients": LISTS,
        "subject": SUBJECT.replace("detected", f"update {n}"),
        "body_text": f"Update {n}: IMAP logins time out. Straße für Grüße.\n",
        "message_id": f"<OW-20261123-0007.{n}.{thread.replace(':', '-')}@example.net>",
        "in_reply_to": ROOT_ID,
        "references": ROOT_ID,
    }
    return Notification(**{**fields, **changes})  # type: ignore[arg-type]


async def enqueue(db: AsyncEngine, *items: Notification) -> list[int]:
    async with db.begin() as conn:
        return [await outbox.enqueue(conn, item, T0) for item in items]


async def row(db: AsyncEngine, row_id: int) -> dict[str, object]:
    async with db.connect() as conn:
        found = await conn.execute(select(notifications).where(notifications.c.id == row_id))
        return dict(found.one()._mapping)


def sender_for(
    db: AsyncEngine, metrics: Metrics, relay: LoopbackRelay, ca_file: str, **changes: object
) -> Sender:
    settings = relay.relay(ca_file=Path(ca_file), **changes)
    password = None if settings.username is None else PASSWORD
    return Sender(db, Delivery.of(settings, password, ehlo_name="ow.test"), metrics, "fra-1")


async def test_delivers_through_starttls_and_auth(
    db: AsyncEngine, metrics: Metrics, start_relay: StartRelay, ca_file: str
) -> None:
    relay = await start_relay("starttls")
    sender = sender_for(db, metrics, relay, ca_file)
    html = "<p>Update 1: IMAP logins time out. Straße für Grüße.</p>"
    (row_id,) = await enqueue(db, mail(1, body_html=html))

    assert await sender.step(T0)
    assert not await sender.step(T0)

    (got,) = relay.handler.received
    assert (got.authenticated, got.tls) == (True, True)
    assert got.mail_from == "noc@example.net"
    assert got.rcpt_tos == LISTS
    msg = got.message
    assert msg["From"] == "OX Cloud Operations <noc@example.net>"
    assert msg["To"] == ", ".join(LISTS)
    assert msg["Subject"] == "[OX Cloud EU de-1] [Sev 2] Outage: IMAP — update 1"
    assert msg["Message-ID"] == "<OW-20261123-0007.1.incident-7@example.net>"
    assert msg["In-Reply-To"] == msg["References"] == ROOT_ID
    assert msg["Date"] == format_datetime(T0)
    assert msg["Auto-Submitted"] == "auto-generated"
    plain, rich = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content() == "Update 1: IMAP logins time out. Straße für Grüße.\n"
    assert rich.get_content().strip() == html
    assert plain.get_content_charset() == "utf-8"
    assert got.data.isascii()  # 7-bit on the wire: any relay takes it

    state = await row(db, row_id)
    assert (state["state"], state["sent_at"], state["last_error"]) == ("sent", T0, None)
    assert counted(metrics, "update", "sent") == 1


@pytest.mark.parametrize("tls", ["none", "implicit"])
async def test_delivers_without_tls_and_with_implicit_tls(
    db: AsyncEngine, metrics: Metrics, start_relay: StartRelay, ca_file: str, tls: str
) -> None:
    relay = await start_relay(tls)
    login = {} if tls == "implicit" else {"username": None, "password_env": None}
    sender = sender_for(db, metrics, relay, ca_file, **login)
    await enqueue(db, mail())
    assert await sender.step(T0)
    (got,) = relay.handler.received
    assert got.authenticated is (tls == "implicit")
    assert got.message["Message-ID"] == mail().message_id


async def test_a_recipient_refused_for_good_does_not_stop_the_others(
    db: AsyncEngine, metrics: Metrics, start_relay: StartRelay, ca_file: str
) -> None:
    relay = await start_relay()
    relay.handler.rcpt_replies["b@example.net"] = S550_NO_SUCH_USER
    sender = sender_for(db, metrics, relay, ca_file)
    (row_id,) = await enqueue(db, mail(recipients=("a@example.net", "b@example.net", "c@x.io")))

    assert await sender.step(T0)

    (got,) = relay.handler.received
    assert got.rcpt_tos == ("a@example.net", "c@x.io")
    state = await row(db, row_id)
    assert state["state"] == "sent"
    assert state["pending_recipients"] == []
    assert state["last_error"] == f"refused b@example.net: {S550_NO_SUCH_USER}"
    assert counted(metrics, "update", "partial") == 1
    assert not await sender.step(T0 + timedelta(hours=1))  # nothing left to try


async def test_a_deferred_recipient_is_retried_later_alone(
    db: AsyncEngine, metrics: Metrics, start_relay: StartRelay, ca_file: str
) -> None:
    relay = await start_relay()
    relay.handler.rcpt_replies["b@example.net"] = S451_TRY_LATER
    sender = sender_for(db, metrics, relay, ca_file)
    (row_id,) = await enqueue(db, mail(recipients=("a@example.net", "b@example.net")))

    assert await sender.step(T0)
    state = await row(db, row_id)
    assert state["state"] == "pending"
    assert state["pending_recipients"] == ["b@example.net"]
    assert state["next_attempt_at"] == T0 + timedelta(seconds=30)
    assert not await sender.step(T0 + timedelta(seconds=29))

    relay.handler.rcpt_replies.clear()
    assert await sender.step(T0 + timedelta(seconds=30))

    first, second = relay.handler.received
    assert first.rcpt_tos == ("a@example.net",)
    assert second.rcpt_tos == ("b@example.net",)
    assert first.message["Message-ID"] == second.message["Message-ID"] == mail().message_id
    assert second.message["To"] == "a@example.net, b@example.net"  # the same mail
    assert (await row(db, row_id))["state"] == "sent"
    assert counted(metrics, "update", "retry") == counted(metrics, "update", "sent") == 1


async def test_refusals_survive_the_retry_of_a_deferred_recipient(
    db: AsyncEngine, metrics: Metrics, start_relay: StartRelay, ca_file: str
) -> None:
    relay = await start_relay()
    replies = {"a@example.net": S550_NO_SUCH_USER, "b@example.net": S451_TRY_LATER}
    relay.handler.rcpt_replies.update(replies)
    sender = sender_for(db, metrics, relay, ca_file)
    (row_id,) = await enqueue(db, mail(recipients=("a@example.net", "b@example.net", "c@x.io")))

    assert await sender.step(T0)
    assert (await row(db, row_id))["pending_recipients"] == ["b@example.net"]
    del relay.handler.rcpt_replies["b@example.net"]
    assert await sender.step(T0 + timedelta(seconds=30))

    assert [got.rcpt_tos for got in relay.handler.received] == [("c@x.io",), ("b@example.net",)]
    state = await row(db, row_id)
    assert state["state"] == "sent"
    assert state["last_error"] == f"refused a@example.net: {S550_NO_SUCH_USER}"
    assert counted(metrics, "update", "partial") == 1


@pytest.mark.parametrize(
    ("reply_to", "reply", "result"),
    [
        ("mail", "550 5.7.1 relaying denied", "failed"),
        ("mail", "451 4.3.2 system not accepting messages", "retry"),
        ("data", "554 5.6.0 message content rejected", "failed"),
        ("data", "452 4.3.1 insufficient system storage", "retry"),
        ("rcpt", S550_NO_SUCH_USER, "failed"),  # every recipient refused for good
    ],
)
async def test_replies_about_the_message_itself(
    db: AsyncEngine,
    metrics: Metrics,
    start_relay: StartRelay,
    ca_file: str,
    reply_to: str,
    reply: str,
    result: str,
) -> None:
    relay = await start_relay()
    if reply_to == "rcpt":
        relay.handler.rcpt_replies.update(dict.fromkeys(LISTS, reply))
    else:
        setattr(relay.handler, f"{reply_to}_reply", reply)
    sender = sender_for(db, metrics, relay, ca_file)
    (row_id,) = await enqueue(db, mail())

    assert await sender.step(T0)

    state = await row(db, row_id)
    assert state["state"] == {"failed": "failed", "retry": "pending"}[result]
    assert reply.split()[0] in str(state["last_error"])
    assert counted(metrics, "update", result) == 1
    assert relay.handler.received == []


async def probe_until_idle(sender: Sender, now: datetime) -> int:
    done = 0
    while await sender.step(now):
        done += 1
    return done


async def test_a_relay_down_for_three_hours_delays_mail_and_loses_none(
    db: AsyncEngine, metrics: Metrics, start_relay: StartRelay, ca_file: str
) -> None:
    relay = await start_relay("none")
    settings = relay.relay(username=None, password_env=None)
    await relay.stop()  # nothing listens on its port now: connections are refused
    sender = Sender(db, Delivery.of(settings, ehlo_name="ow.test"), metrics, "fra-1")
    items = [mail(0, kind="detected"), mail(0, "incident:8", kind="detected"), mail(1)]
    ids = await enqueue(db, *items)

    now, attempts_at = T0, []
    while now < T0 + timedelta(hours=3):
        if await probe_until_idle(sender, now):
            attempts_at.append(now)
        await sender.export_backlog(now)
        gauge = metrics.registry.get_sample_value
        assert gauge("outagewatch_outbox_pending") == 3
        assert gauge("outagewatch_outbox_oldest_pending_seconds") == (now - T0).total_seconds()
        async with db.connect() as conn:
            due = await outbox.next_due(conn, sender.lease)
        assert due is not None and due > now
        now = due

    waits = [(b - a).total_seconds() for a, b in itertools.pairwise(attempts_at)]
    assert waits[:7] == [30, 60, 120, 240, 480, 900, 900]
    assert set(waits[5:]) == {900}  # capped, and it never gives up
    first = await row(db, ids[0])
    assert (first["state"], first["attempts"]) == ("pending", len(attempts_at))
    assert "connect:" in str(first["last_error"])
    update = await row(db, ids[2])
    assert update["attempts"] == 0  # held behind its thread's "detected" mail all along

    await relay.start()  # the relay is back, on the same port
    assert await probe_until_idle(sender, now) == 3
    got = [(m.message["Message-ID"], m.rcpt_tos) for m in relay.handler.received]
    # Oldest thread first, in order within it: above all, the update of incident 7 after
    # its "detected" mail.
    assert [mid for mid, _ in got] == [items[i].message_id for i in (0, 2, 1)]
    assert all(rcpts == LISTS for _, rcpts in got)
    await sender.export_backlog(now)
    assert metrics.registry.get_sample_value("outagewatch_outbox_pending") == 0
    assert metrics.registry.get_sample_value("outagewatch_outbox_oldest_pending_seconds") == 0
    assert counted(metrics, "detected", "sent") == 2
    assert counted(metrics, "detected", "retry") == 2 * len(attempts_at)


async def test_a_crashed_sender_is_replaced_and_the_mail_sent_again_with_its_message_id(
    db: AsyncEngine,
    metrics: Metrics,
    start_relay: StartRelay,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    relay = await start_relay()
    (row_id,) = await enqueue(db, mail())

    async def crash(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("killed between DATA and the database write")

    # The first sender delivers, then dies before it can record it: the row stays sending.
    with monkeypatch.context() as patch:
        patch.setattr(outbox, "mark_sent", crash)
        with pytest.raises(RuntimeError):
            await sender_for(db, metrics, relay, ca_file).step(T0)
    assert (await row(db, row_id))["state"] == "sending"

    other = Sender(db, Delivery.of(relay.relay(ca_file=Path(ca_file)), PASSWORD), metrics, "nyc-1")
    assert not await other.step(T0 + other.lease)  # the lease still holds
    assert await other.step(T0 + other.lease + timedelta(seconds=1))

    first, again = relay.handler.received
    assert first.message["Message-ID"] == again.message["Message-ID"] == mail().message_id
    state = await row(db, row_id)
    assert (state["state"], state["attempts"], state["claimed_by"]) == ("sent", 2, "nyc-1")


async def test_the_relay_password_never_reaches_the_logs(
    db: AsyncEngine,
    metrics: Metrics,
    start_relay: StartRelay,
    ca_file: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    relay = await start_relay()
    settings = relay.relay(ca_file=Path(ca_file))
    await enqueue(db, mail(1), mail(2, thread="incident:8"))
    assert await Sender(db, Delivery.of(settings, PASSWORD), metrics, "fra-1").step(T0)
    wrong = PASSWORD[::-1]
    assert await Sender(db, Delivery.of(settings, wrong), metrics, "fra-1").step(
        T0
    )  # login refused
    assert counted(metrics, "update", "sent") == counted(metrics, "update", "retry") == 1

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    secrets = {PASSWORD, wrong}
    secrets |= {b64(s) for s in secrets} | {b64(f"\0{USERNAME}\0{s}") for s in secrets}
    # Every record at DEBUG: ours, aiosmtplib's, SQLAlchemy's, even the test relay's.
    text = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {vars(r)}" for r in caplog.records)
    assert "login: 535" in text  # the failure is logged...
    assert not [s for s in secrets if s in text]  # ...the password is not, in any form


async def test_without_a_relay_mail_waits(db: AsyncEngine, metrics: Metrics) -> None:
    sender = Sender(db, Delivery(), metrics, "fra-1")
    (row_id,) = await enqueue(db, mail())
    assert await sender.step(T0)
    state = await row(db, row_id)
    assert state["state"] == "pending"
    assert "no smtp relay is configured" in str(state["last_error"])


async def test_the_lease_must_outlast_a_send(db: AsyncEngine, metrics: Metrics) -> None:
    with pytest.raises(ValueError, match="lease"):
        Delivery(lease=timedelta(seconds=30))
