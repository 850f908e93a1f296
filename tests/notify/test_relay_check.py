"""The relay check against a real relay (aiosmtpd over STARTTLS with AUTH): it notices the
relay back at its next check, long before the rows' own backoff, and counts a relay that
answers but refuses our login as still failing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.metrics import Metrics
from outagewatch.notify.delivery import Delivery
from outagewatch.notify.sender import Sender
from tests.notify.conftest import PASSWORD, T0, StartRelay

from .test_sender_smtp import enqueue, mail, probe_until_idle, row

S = timedelta(seconds=1)


async def test_the_check_sends_the_backlog_long_before_its_backoff(
    db: AsyncEngine, metrics: Metrics, start_relay: StartRelay, ca_file: str
) -> None:
    relay = await start_relay("starttls")
    settings = relay.relay(ca_file=Path(ca_file))
    sender = Sender(db, Delivery.of(settings, PASSWORD, ehlo_name="ow.test"), metrics, "fra-1")
    await relay.stop()
    (row_id,) = await enqueue(db, mail(1))
    up = {"relay": settings.address}
    now = T0
    while now < T0 + 20 * 60 * S:  # 20 minutes: the row's backoff reaches retry_cap (15 min)
        await probe_until_idle(sender, now)
        now += 10 * S
    assert metrics.registry.get_sample_value("outagewatch_relay_up", up) == 0
    waiting = await row(db, row_id)
    assert waiting["state"] == "pending" and waiting["next_attempt_at"] > now + 5 * 60 * S

    await relay.start()  # back, on the same port
    back = now
    while not relay.handler.received:
        assert now <= back + 30 * S, "not noticed within 30 s of its return"
        await probe_until_idle(sender, now)
        now += 10 * S
    assert [r.message["Message-ID"] for r in relay.handler.received] == [mail(1).message_id]
    assert metrics.registry.get_sample_value("outagewatch_relay_up", up) == 1
    assert (await row(db, row_id))["relay"] == settings.address


async def test_a_relay_that_refuses_our_login_is_still_failing(
    db: AsyncEngine, metrics: Metrics, start_relay: StartRelay, ca_file: str
) -> None:
    relay = await start_relay("starttls")
    settings = relay.relay(ca_file=Path(ca_file))
    sender = Sender(
        db, Delivery.of(settings, "not the password", ehlo_name="ow.test"), metrics, "fra-1"
    )
    await enqueue(db, mail(1))
    await probe_until_idle(sender, T0)  # the attempt: login refused
    assert sender.relays is not None and not sender.relays.health[0].up
    await probe_until_idle(sender, T0 + 60 * S)  # the check logs in too: still refused
    assert not sender.relays.health[0].up
    assert sender.relays.health[0].failures >= 2
    assert relay.handler.received == []
