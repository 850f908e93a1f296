"""Limits for what anyone may ask: a token bucket per client and a cap on requests in flight.

The status page is public, and during an outage many load it at once; the daemon's first
job is probing. A client that asks faster than ``rate`` (after a ``burst``) gets 429 with
the seconds until it may ask again; past ``in_flight`` public requests being answered, the
next gets 503 at once instead of a queue that grows. Clients are told apart by their
address (a reverse proxy in front should limit on its own side: every visitor is its
address here). The table of clients is bounded: the longest idle are forgotten first.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

RATE = 20.0  # requests per second and client, sustained
BURST = 40.0  # a page, its feeds and a few reloads at once
IN_FLIGHT = 32  # public requests being answered at once
CLIENTS = 10_000  # addresses remembered


@dataclass
class Limits:
    rate: float = RATE
    burst: float = BURST
    in_flight: int = IN_FLIGHT
    clients: int = CLIENTS
    busy: int = 0
    _buckets: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict)

    def wait(self, client: str, now: float) -> float:
        """0 when ``client`` may ask now (and a token is taken), else the seconds to wait."""
        tokens, at = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            tokens -= 1.0
            waiting = 0.0
        else:
            waiting = (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > self.clients:
            self._buckets.popitem(last=False)
        return waiting

    def enter(self) -> bool:
        if self.busy >= self.in_flight:
            return False
        self.busy += 1
        return True

    def leave(self) -> None:
        self.busy -= 1


def retry_after(seconds: float) -> str:
    """The Retry-After header: whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))
