"""Failed console sign-ins, counted per client address.

After ``limit`` failures from one address within ``window``, that address is refused (429)
without its token being looked at, until its oldest failure in the window has aged out. A
successful sign-in forgets the address's failures. Memory is bounded: at most
``max_clients`` addresses are remembered, the one failing longest ago is forgotten first.
Behind a reverse proxy every client has the proxy's address, and so shares one count.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from datetime import datetime, timedelta

LIMIT = 10
WINDOW = timedelta(minutes=10)
MAX_CLIENTS = 10_000


class SignInThrottle:
    def __init__(
        self, limit: int = LIMIT, window: timedelta = WINDOW, max_clients: int = MAX_CLIENTS
    ) -> None:
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()

    def _recent(self, client: str, now: datetime) -> deque[datetime]:
        failures = self._failures.get(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, client: str, now: datetime) -> timedelta | None:
        """How long ``client`` must wait before it may try again; None: it may try now."""
        failures = self._recent(client, now)
        if len(failures) < self.limit:
            return None
        return failures[0] + self.window - now

    def failed(self, client: str, now: datetime) -> bool:
        """Count a failure; True when this one reached the limit (the block starts)."""
        failures = self._recent(client, now)
        failures.append(now)
        self._failures[client] = failures
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
        return len(failures) == self.limit

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
