"""One /metrics exposition at a time, whoever asks and however often.

At 10,000 services an exposition is 14 MB of text and tens of milliseconds of work: a
client opening many scrapes at once must not multiply that. A scrape arriving while one of
the same encoding is being built gets that one's body; one of the other encoding waits for
the running build to end before its own starts. So the work in progress is one exposition,
and its memory one body per encoding, for any number of concurrent scrapes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Build = Callable[[bool], Awaitable[bytes]]


class OneScrape:
    def __init__(self, build: Build) -> None:
        self._build = build
        self._lock = asyncio.Lock()
        self._running: dict[bool, asyncio.Future[bytes]] = {}

    async def body(self, compressed: bool) -> bytes:
        running = self._running.get(compressed)
        if running is None:
            running = asyncio.ensure_future(self._one(compressed))
            self._running[compressed] = running
            running.add_done_callback(lambda _: self._running.pop(compressed, None))
        # Shielded: a client that hangs up does not cancel the body the others wait for.
        return await asyncio.shield(running)

    async def _one(self, compressed: bool) -> bytes:
        async with self._lock:
            return await self._build(compressed)
