"""The sender loop: claim one outbox row, deliver it (SMTP relay or a channel's transport),
record the result.

What is permanent and what is not:

* A recipient refused with 5xx is refused for good; the others still get the mail. A
  recipient refused with 4xx is tried again later, alone.
* 5xx to MAIL FROM or to DATA is about this message: the row fails for good.
* Everything else is temporary for the whole row and retried with exponential backoff, for
  ever: no connection, resets, timeouts, 4xx, and also a failed TLS handshake or login. Those
  are the relay's or the operator's to fix, not the message's, and a relay down for hours
  must delay mail, never lose it.
* Channels (paging, chat, webhooks; notify/channels/): the transport says whether its
  failure is permanent (a 4xx the vendor means) or not; a vendor's Retry-After is a floor
  for the next attempt.

Mail goes through the relay notify/relays.py chooses (the primary, or a fallback once the
primary has failed for ``failover_after``). When a failing relay answers again, what waited
leaves at once: ``on_relay_back`` lets the incident engine rewrite waiting updates first,
then every pending mail is made due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email import policy
from email.utils import parseaddr
from typing import Literal

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.metrics import Metrics
from outagewatch.notify import attempts, outbox
from outagewatch.notify.channels.base import Message, TransportError
from outagewatch.notify.delivery import Delivery
from outagewatch.notify.message import build_message
from outagewatch.notify.outbox import Claimed
from outagewatch.notify.relays import Relays, backoff
from outagewatch.text import one_line

log = logging.getLogger(__name__)

Result = Literal["sent", "partial", "retry", "failed"]


@dataclass(frozen=True)
class Outcome:
    """What one delivery attempt achieved; ``error`` concerns the whole row."""

    accepted: tuple[str, ...] = ()
    refused: Mapping[str, str] = field(default_factory=dict)  # for good, per recipient
    deferred: Mapping[str, str] = field(default_factory=dict)  # try again, per recipient
    error: str | None = None
    permanent: bool = False
    retry_after: timedelta | None = None  # the vendor asked us to wait at least this long
    via: str | None = None  # the relay (host:port) that carried the mail


@dataclass(frozen=True)
class AttemptVerdict:
    """What one delivery attempt leaves in its row: the result, the recipients still to
    try, when to try them, and why."""

    result: Result
    pending: tuple[str, ...] = ()
    next_attempt_at: datetime | None = None
    error: str | None = None


def decide(
    item: Claimed, outcome: Outcome, now: datetime, base: timedelta, cap: timedelta
) -> AttemptVerdict:
    """What to record for an attempt: pure, so every branch is tested without a relay."""
    retry_at = now + max(backoff(item.attempts, base, cap), outcome.retry_after or timedelta())
    if outcome.error is not None:
        # Recipients refused before the error stay refused; the rest waits for the retry.
        left = tuple(r for r in item.pending_recipients if r not in outcome.refused)
        if outcome.permanent or not left:
            return AttemptVerdict("failed", error=outcome.error)
        return AttemptVerdict("retry", left, retry_at, outcome.error)
    if outcome.deferred:
        error = "; ".join(f"{r}: {reply}" for r, reply in sorted(outcome.deferred.items()))
        return AttemptVerdict("retry", tuple(outcome.deferred), retry_at, f"deferred {error}")
    if not outcome.accepted:
        return AttemptVerdict("failed", error="every recipient was refused")
    partial = outcome.refused or item.refused
    return AttemptVerdict("partial" if partial else "sent")


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {one_line(exc.message, 150)}"


class Sender:
    """Delivers the outbox, one row per `step`. Run as many as you like: claims are exclusive.

    ``delivery`` is the `Delivery` to use, or where to read the current one (the daemon's
    runtime): every step reads it, so that a reloaded relay or channel carries the next row.
    Its ``lease`` is how long a claim holds before another sender may take the row again.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        delivery: Delivery | Callable[[], Delivery],
        metrics: Metrics,
        worker: str,
        *,
        on_relay_back: Callable[[datetime], Awaitable[object]] | None = None,
    ) -> None:
        self.engine = engine
        self.delivery: Callable[[], Delivery] = (
            delivery if callable(delivery) else (lambda: delivery)
        )
        # Called when a relay answers again, before the backlog leaves: the incident engine
        # rewrites the updates that were written while nothing could be sent.
        self.on_relay_back = on_relay_back
        self.metrics = metrics
        self.worker = worker
        self._using: Delivery | None = None  # the delivery `relays` was built for
        self._relays: Relays | None = None
        self._moved = False  # mail goes another way since the last step
        self._rerouted: set[str] = set()  # channels configured anew since the last step
        self._adopt(self.delivery())

    def _adopt(self, delivery: Delivery) -> None:
        """Follow a new delivery (a reload): relays built anew, their health kept."""
        if delivery is self._using:
            return
        before, self._using = self._using, delivery
        previous = self._relays
        self._relays = None if delivery.relay is None else Relays(delivery, self.metrics, previous)
        if previous is not None and self._relays is None:
            for address in previous.addresses:
                self.metrics.relay_up.remove(address)
        self.metrics.count_channels(delivery.transports)
        if before is not None:
            self._moved = self._moved or not before.same_route(delivery)
            self._rerouted |= set(before.channels_changed(delivery))

    @property
    def relays(self) -> Relays | None:
        """The relays of the current delivery, with the health the sender has seen."""
        self._adopt(self.delivery())
        return self._relays

    @property
    def lease(self) -> timedelta:
        return self.delivery().lease

    async def step(self, now: datetime) -> bool:
        """Deliver one due notification; False when there was none."""
        delivery = self.delivery()
        self._adopt(delivery)
        if self._moved:  # new relays: what waited for the old ones leaves now
            self._moved = False
            await self._relay_back(now)
        if self._rerouted:  # the same for a channel's waiting rows
            async with self.engine.begin() as conn:
                for channel in sorted(self._rerouted):
                    await attempts.release(conn, now, channel=channel)
            self._rerouted = set()
        relays = self._relays
        if relays is not None and await relays.step(now):
            await self._relay_back(now)
        item = await outbox.claim(self.engine, now, self.worker, delivery.lease)
        if item is None:
            return False
        if item.channel == "mail":
            outcome = await self._send_mail(relays, item, now)
        else:
            outcome = await self._notify_channel(delivery, item)
        verdict = decide(item, outcome, now, delivery.backoff_base, delivery.backoff_cap)
        held = await self._record(item, outcome, verdict, now)
        self.metrics.notifications.labels(item.channel, item.kind, verdict.result).inc()
        self._log(item, outcome, verdict, held)
        return True

    async def _relay_back(self, now: datetime) -> None:
        """A relay answers again (or another is to be used): what waited leaves at once."""
        if self.on_relay_back is not None:
            try:
                await self.on_relay_back(now)
            except Exception:  # stale updates then go as written: better than none at all
                log.exception("rewriting the waiting updates failed")
        async with self.engine.begin() as conn:
            await attempts.release(conn, now, channel="mail")

    async def export_backlog(self, now: datetime) -> None:
        async with self.engine.connect() as conn:
            pending, oldest = await attempts.backlog(conn, now)
        self.metrics.outbox_pending.set(pending)
        self.metrics.outbox_oldest_pending.set(oldest)

    async def _record(
        self, item: Claimed, outcome: Outcome, verdict: AttemptVerdict, now: datetime
    ) -> bool:
        token = item.claimed_at
        async with self.engine.begin() as conn:
            if verdict.result in ("sent", "partial"):
                return await attempts.mark_sent(
                    conn, item.id, now, outcome.refused, claimed_at=token, relay=outcome.via
                )
            if verdict.result == "retry":
                assert verdict.next_attempt_at is not None and verdict.error is not None
                return await attempts.mark_retry(
                    conn,
                    item.id,
                    now,
                    verdict.next_attempt_at,
                    verdict.error,
                    verdict.pending,
                    failed_recipients=outcome.refused,
                    claimed_at=token,
                )
            assert verdict.error is not None
            return await attempts.mark_failed(
                conn,
                item.id,
                now,
                verdict.error,
                failed_recipients=outcome.refused,
                claimed_at=token,
            )

    def _log(self, item: Claimed, outcome: Outcome, verdict: AttemptVerdict, held: bool) -> None:
        detail: str = verdict.result
        if verdict.result == "retry":
            detail += f" at {verdict.next_attempt_at:%Y-%m-%d %H:%M:%SZ}: {verdict.error}"
        elif verdict.result == "failed":
            detail += f": {verdict.error}"
        refused = {**item.refused, **outcome.refused}
        if refused:
            detail += "; refused " + ", ".join(f"{r} ({why})" for r, why in sorted(refused.items()))
        if not held:
            detail += " (the claim had expired: another sender took the row over)"
        level = logging.INFO if verdict.result == "sent" and held else logging.WARNING
        log.log(
            level,
            "notification %s %s to %d recipient(s), attempt %d: %s",
            item.kind,
            item.message_id,
            len(item.pending_recipients),
            item.attempts,
            detail,
            extra={"notification_id": item.id, "kind": item.kind, "result": verdict.result},
        )

    async def _send_mail(self, relays: Relays | None, item: Claimed, now: datetime) -> Outcome:
        if relays is None:
            return Outcome(error="no smtp relay is configured")
        index = relays.current(now)
        outcome = await self._through(relays, index, item)
        if outcome.error is not None and not outcome.permanent:
            relays.failed(index, now)
        elif relays.answered(index):
            await self._relay_back(now)  # a retry found it back before its health check did
        return outcome

    async def _through(self, relays: Relays, index: int, item: Claimed) -> Outcome:
        relay, password = relays.endpoints[index], relays.passwords[index]
        data = build_message(item, relays.sender).as_bytes(policy=policy.SMTP)
        client = relays.client(index)
        stage, outcome = "connect", Outcome()
        try:
            async with asyncio.timeout(relays.timeout):
                await client.connect()
                if relay.tls == "starttls":
                    stage = "starttls"
                    await client.starttls(tls_context=relays.tls(index))
                if relay.username is not None:
                    stage = "login"
                    await client.login(relay.username, password or "")
                stage = "mail from"
                await client.mail(parseaddr(relays.sender)[1])
                stage = "rcpt to"
                outcome = await self._recipients(client, item)
                if outcome.accepted:
                    stage = "data"
                    await client.data(data)
                else:
                    await client.rset()
        except (aiosmtplib.SMTPSenderRefused, aiosmtplib.SMTPDataError) as exc:
            error, permanent = f"{stage}: {_reply(exc)}", exc.code >= 500
        except aiosmtplib.SMTPResponseException as exc:
            error, permanent = f"{stage}: {_reply(exc)}", False
        except TimeoutError:
            error, permanent = f"{stage}: no answer within {relays.timeout:g}s", False
        except (aiosmtplib.SMTPException, OSError) as exc:
            error, permanent = f"{stage}: {one_line(str(exc) or type(exc).__name__, 200)}", False
        else:
            await self._quit(client, relays.timeout)
            return replace(outcome, via=relay.address)
        finally:
            client.close()
        # Recipients refused before the error stay refused: keep them in the outcome.
        error = f"{relay.address} {error}" if index else error  # name a fallback in the record
        return Outcome(refused=outcome.refused, error=error, permanent=permanent)

    async def _recipients(self, client: aiosmtplib.SMTP, item: Claimed) -> Outcome:
        accepted: list[str] = []
        refused: dict[str, str] = {}
        deferred: dict[str, str] = {}
        for recipient in item.pending_recipients:
            try:
                await client.rcpt(recipient)
            except aiosmtplib.SMTPRecipientRefused as exc:
                (refused if exc.code >= 500 else deferred)[recipient] = _reply(exc)
            else:
                accepted.append(recipient)
        return Outcome(tuple(accepted), refused, deferred)

    async def _quit(self, client: aiosmtplib.SMTP, within: float) -> None:
        # The relay has the mail once DATA got its 250: a failing QUIT changes nothing.
        try:
            async with asyncio.timeout(within):
                await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass

    async def _notify_channel(self, delivery: Delivery, item: Claimed) -> Outcome:
        """One channel row through its transport; the vendor's words go to the log."""
        transport = delivery.transports.get(item.channel)
        if transport is None:
            # Nothing could ever deliver it: the channel was removed from the config.
            return Outcome(error=f"channel {item.channel} is not configured", permanent=True)
        message = Message.from_row(
            item.message_id, item.kind, item.subject, item.body_text, item.created_at,
            item.details,
        )  # fmt: skip
        try:
            await transport.notify(message)
        except TransportError as exc:
            wait = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
            return Outcome(error=str(exc), permanent=exc.permanent, retry_after=wait)
        return Outcome(accepted=item.pending_recipients or (item.channel,))
