"""The SMTP relays mail goes through: the primary, its fallbacks, and the health of each.

A relay that fails is not only retried row by row (each row's backoff grows to
``retry_cap``, 15 minutes by default): it is also checked on its own — connect, STARTTLS
and login as configured, NOOP, QUIT — at most ``relay_check`` apart and never faster than
the backoff, so that when it answers again the backlog leaves at once instead of each row
waiting for its backoff slot. The login is part of the check because a relay that answers
EHLO but refuses us would otherwise be "back" every check and never take a mail.

After ``failover_after`` of failures mail goes through the next relay in the list; a relay
that answers a check is used again, the primary first. The rules are pure functions of the
health and ``now``; `Relays` holds the health and does the checks.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosmtplib

from outagewatch.config.model import RelayEndpoint
from outagewatch.metrics import Metrics
from outagewatch.notify.delivery import Delivery
from outagewatch.text import one_line
from outagewatch.tls.contexts import client_context

log = logging.getLogger("outagewatch.notify.sender")


def backoff(attempts: int, base: timedelta, cap: timedelta) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: base, 2 base, 4 base, ... up to cap."""
    return min(cap, base * (1 << min(max(attempts - 1, 0), 32)))


@dataclass(frozen=True)
class Health:
    failing_since: datetime | None = None  # None: the last attempt or check succeeded
    failures: int = 0  # in a row, attempts and checks alike
    next_check_at: datetime | None = None

    @property
    def up(self) -> bool:
        return self.failing_since is None


def after_failure(
    health: Health, now: datetime, check_every: timedelta, base: timedelta, cap: timedelta
) -> Health:
    """A failed attempt or check: the next check comes after the backoff, but within
    ``check_every``, so that a relay back after hours is noticed within that bound."""
    failures = health.failures + 1
    wait = min(check_every, backoff(failures, base, cap))
    return Health(health.failing_since or now, failures, now + wait)


def choose(health: Sequence[Health], now: datetime, failover_after: timedelta) -> int:
    """The relay to send through: the first in the list that has not been failing for
    ``failover_after``; when every one has, the primary."""
    for index, h in enumerate(health):
        if h.failing_since is None or now - h.failing_since < failover_after:
            return index
    return 0


def checks_due(health: Sequence[Health], now: datetime) -> list[int]:
    return [
        i for i, h in enumerate(health) if h.next_check_at is not None and h.next_check_at <= now
    ]


class Relays:
    """The primary relay and its fallbacks, with the health of each (in memory: a new
    leader starts by trusting the primary, and learns from its first attempt). Built anew
    for each `Delivery`; a relay the previous one knew keeps its health."""

    def __init__(
        self, delivery: Delivery, metrics: Metrics, previous: Relays | None = None
    ) -> None:
        assert delivery.relay is not None
        self.endpoints: list[RelayEndpoint] = delivery.endpoints
        self.sender = delivery.relay.sender
        self.passwords = list(delivery.passwords)
        self.metrics = metrics
        self.check_every = delivery.relay_check
        self.failover_after = delivery.failover_after
        self.backoff_base = delivery.backoff_base
        self.backoff_cap = delivery.backoff_cap
        self.timeout = delivery.send_timeout
        self.ehlo_name = delivery.ehlo_name
        known: dict[str, Health] = {}
        if previous is not None:
            known = dict(zip(previous.addresses, previous.health, strict=True))
        self.health: list[Health] = [known.get(e.address, Health()) for e in self.endpoints]
        chosen = None if previous is None else previous.addresses[previous._chosen]
        self._chosen: int = self.addresses.index(chosen) if chosen in self.addresses else 0
        for address in set(known) - set(self.addresses):
            metrics.relay_up.remove(address)  # a relay no longer configured
        for endpoint, health in zip(self.endpoints, self.health, strict=True):
            metrics.relay_up.labels(endpoint.address).set(1 if health.up else 0)

    @property
    def addresses(self) -> list[str]:
        return [e.address for e in self.endpoints]

    def current(self, now: datetime) -> int:
        return choose(self.health, now, self.failover_after)

    def failed(self, index: int, now: datetime) -> None:
        health = self.health[index]
        self.health[index] = after_failure(
            health, now, self.check_every, self.backoff_base, self.backoff_cap
        )
        self.metrics.relay_up.labels(self.endpoints[index].address).set(0)

    def answered(self, index: int) -> bool:
        """The relay took a mail or answered a check; True if it had been failing."""
        was_failing = not self.health[index].up
        self.health[index] = Health()
        self.metrics.relay_up.labels(self.endpoints[index].address).set(1)
        return was_failing

    async def step(self, now: datetime) -> bool:
        """Check the failing relays whose check is due. True when mail may leave now that
        was waiting: the relay to use answered again, or another relay is to be used."""
        answered = False
        for index in checks_due(self.health, now):
            address = self.endpoints[index].address
            problem = await self._check(index)
            if problem is None:
                log.warning("relay %s answers again", address)
                self.answered(index)
                answered = answered or index == self.current(now)
            else:
                self.failed(index, now)
                log.info("relay %s still fails: %s", address, problem)
        chosen = self.current(now)
        switched, self._chosen = chosen != self._chosen, chosen
        if switched:
            log.warning("mail now goes through relay %s", self.endpoints[chosen].address)
        return answered or switched

    def client(self, index: int) -> aiosmtplib.SMTP:
        relay = self.endpoints[index]
        return aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            use_tls=relay.tls == "implicit",
            start_tls=False,  # done by the caller, so that a relay without STARTTLS is an error
            tls_context=self.tls(index),
            local_hostname=self.ehlo_name,
            timeout=self.timeout,
        )

    def tls(self, index: int) -> ssl.SSLContext | None:
        relay = self.endpoints[index]
        if relay.tls == "none":
            return None
        return client_context(verify=relay.tls_verify, ca_file=relay.ca_file)

    async def _check(self, index: int) -> str | None:
        """connect (EHLO), STARTTLS and login as configured, NOOP, QUIT: None when it answers."""
        relay, client = self.endpoints[index], self.client(index)
        try:
            async with asyncio.timeout(self.timeout):
                await client.connect()
                if relay.tls == "starttls":
                    await client.starttls(tls_context=self.tls(index))
                if relay.username is not None:
                    await client.login(relay.username, self.passwords[index] or "")
                await client.noop()
                await client.quit()
        except TimeoutError:
            return f"no answer within {self.timeout:g}s"
        except (aiosmtplib.SMTPException, OSError) as exc:
            return one_line(str(exc) or type(exc).__name__, 200)
        finally:
            client.close()
        return None
