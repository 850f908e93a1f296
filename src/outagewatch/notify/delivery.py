"""How the outbox is delivered, as one immutable value: the relays with their passwords, the
channels' transports, and the timings of claims, retries and relay checks.

The daemon builds one from each config (daemon/runtime.py) and the sender reads the current
one at every step, so that a reloaded relay or channel carries the next notification. What
the sender learns while sending (which relay fails) is its own state, not part of this.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from outagewatch.config.channels import ChannelConfig
from outagewatch.config.model import Relay, RelayEndpoint
from outagewatch.notify.channels.base import Transport

SEND_TIMEOUT = 30.0


@dataclass(frozen=True, kw_only=True)
class Delivery:
    relay: Relay | None = None
    # One per endpoint of ``relay`` (the primary, then the fallbacks); None: no login.
    passwords: tuple[str | None, ...] = field(default=(), repr=False)
    transports: Mapping[str, Transport] = field(default_factory=dict, repr=False)
    # What each transport was built from: a channel whose settings change gets its waiting
    # rows sent at once through the new transport.
    channels: Mapping[str, ChannelConfig] = field(default_factory=dict, repr=False)
    lease: timedelta = timedelta(minutes=5)
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(minutes=15)
    send_timeout: float = SEND_TIMEOUT  # bounds each delivery, seconds
    ehlo_name: str | None = None
    relay_check: timedelta = timedelta(seconds=30)
    failover_after: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.lease.total_seconds() <= 2 * self.send_timeout:
            raise ValueError("the lease must be more than twice the send timeout")
        if len(self.passwords) != len(self.endpoints):
            raise ValueError("smtp: one password (or None) is needed per relay")
        for endpoint, password in zip(self.endpoints, self.passwords, strict=True):
            if endpoint.username is not None and password is None:
                raise ValueError(f"smtp: relay {endpoint.address} has a username but no password")

    @classmethod
    def of(
        cls,
        relay: Relay | None,
        password: str | None = None,
        *,
        fallback_passwords: Sequence[str | None] | None = None,  # None: no fallback logs in
        transports: Mapping[str, Transport] | None = None,
        lease: timedelta = timedelta(minutes=5),
        backoff_base: timedelta = timedelta(seconds=30),
        backoff_cap: timedelta = timedelta(minutes=15),
        send_timeout: float = SEND_TIMEOUT,
        ehlo_name: str | None = None,
        relay_check: timedelta = timedelta(seconds=30),
        failover_after: timedelta = timedelta(minutes=5),
    ) -> Delivery:
        """The primary's password apart from the fallbacks', as the config names them."""
        passwords: tuple[str | None, ...] = ()
        if relay is not None:
            passwords = (password, *(fallback_passwords or [None] * len(relay.fallback)))
        return cls(
            relay=relay, passwords=passwords, transports=dict(transports or {}), lease=lease,
            backoff_base=backoff_base, backoff_cap=backoff_cap, send_timeout=send_timeout,
            ehlo_name=ehlo_name, relay_check=relay_check, failover_after=failover_after,
        )  # fmt: skip

    @property
    def endpoints(self) -> list[RelayEndpoint]:
        return [] if self.relay is None else self.relay.endpoints

    def same_route(self, other: Delivery) -> bool:
        """Whether mail goes the same way (relays, credentials) through ``other``."""
        return (self.relay, self.passwords) == (other.relay, other.passwords)

    def channels_changed(self, other: Delivery) -> list[str]:
        """The channels of ``other`` configured otherwise (or not at all) here."""
        return [name for name, c in other.channels.items() if self.channels.get(name) != c]
