"""An asyncio event loop whose clock jumps to the next timer whenever nothing is ready.

Timers, ``asyncio.sleep`` and timeouts run in virtual time: hours of a schedule take
milliseconds, and every instant is exact (no machine load in the measurement). Real I/O still
works (the loop polls its selector without blocking), but nothing here waits on it.
"""

from __future__ import annotations

import asyncio
import selectors
from typing import Any


class _JumpingSelector:
    def __init__(self, real: selectors.BaseSelector, loop: VirtualClockLoop) -> None:
        self._real = real
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        events = self._real.select(0)
        if not events and timeout is not None and timeout > 0:
            self._loop.advance(timeout)  # nothing to do until the next timer: go there
        return events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class VirtualClockLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0
        self._selector = _JumpingSelector(self._selector, self)  # type: ignore[has-type]

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
