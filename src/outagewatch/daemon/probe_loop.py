"""The probes on an event loop of their own, in a thread of their own.

The loop that runs a probe is its stopwatch: whatever else holds that loop is added to the
duration of every probe in flight. On the daemon's main loop that was a detection round over
10,000 services, a batch of sample writes, a scrape joining 14 MB of text: probes of the
deployed daemon at 10,000 services measured up to 17 ms too much at p99, against 3 ms for
the probe engine alone (docs/BENCHMARKS.md). Here the probe loop does nothing but
probe; the main loop's work reaches it only through the GIL, which the main thread hands
over at least every ``SWITCH_INTERVAL``.

Results cross to the main loop without waking it for each: the probe thread appends them to
a deque, and the main loop's detection round takes what is there with ``drain``. A wake-up
per result (``call_soon_threadsafe``, a write to the loop's self-pipe and a turn of the main
loop) cost about 0.2 ms of CPU on these machines, a sixth of a probe's (docs/BENCHMARKS.md);
``on_batch`` is called on the main loop once ``batch`` results wait (daemon/pacing.py).
"""

from __future__ import annotations

import asyncio
import collections
import sys
import threading
from collections.abc import Callable

from outagewatch.config.targets import Target
from outagewatch.daemon.pacing import BATCH
from outagewatch.daemon.scheduler import Lateness, Prober, Sink
from outagewatch.probes import ProbeResult

# How long a thread holding the GIL may keep it while another waits: CPython's default of
# 5 ms would be the probes' error each time the main thread computes (a judgement, a
# scrape slice); 1 ms costs a few more switches while both threads are busy.
SWITCH_INTERVAL = 0.001


class ProbeLoop:
    """Runs a `Prober` on a loop in a thread and hands its results to ``sink`` on the loop
    that started it, when that loop calls ``drain``. ``start`` and ``stop`` are awaited on
    that (main) loop. ``on_late`` (on the probe thread) is told how late each probe started;
    ``on_batch`` (on the main loop) that ``batch`` results wait."""

    def __init__(
        self,
        targets: list[Target],
        sink: Sink,
        *,
        on_late: Lateness | None = None,
        on_batch: Callable[[], None] | None = None,
        batch: int = BATCH,
    ) -> None:
        self.targets = targets
        self.sink = sink
        self.on_late = on_late
        self.on_batch = on_batch
        self.batch = batch
        self.lag = 0.0  # how late the probe loop started the last probe, seconds
        self._results: collections.deque[tuple[Target, ProbeResult]] = collections.deque()
        self._main: asyncio.AbstractEventLoop | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._prober: Prober | None = None
        self._thread: threading.Thread | None = None

    async def start(self) -> None:
        self._main = asyncio.get_running_loop()
        started: asyncio.Future[None] = self._main.create_future()
        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="outagewatch-probes", daemon=True
        )
        self._thread.start()
        await started

    def _run(self, started: asyncio.Future[None]) -> None:
        """The probe thread: its loop runs until ``stop``."""
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._prober = Prober(self.targets, self._hand_over, on_late=self._late)
        main = self._main
        assert main is not None

        def begin() -> None:
            try:
                assert self._prober is not None
                self._prober.start()
            except Exception as exc:  # hand it to start(), which would wait for ever
                main.call_soon_threadsafe(settle, started, exc)
                loop.stop()
                return
            main.call_soon_threadsafe(settle, started, None)

        loop.call_soon(begin)
        try:
            loop.run_forever()
        finally:
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def _hand_over(self, target: Target, result: ProbeResult) -> None:
        """On the probe thread: queue the result (a deque's append is atomic)."""
        self._results.append((target, result))
        if self.on_batch is not None and len(self._results) == self.batch:
            assert self._main is not None
            self._main.call_soon_threadsafe(self.on_batch)

    def drain(self) -> int:
        """On the main loop: hand every queued result to the sink; how many there were."""
        count = 0
        while self._results:
            self.sink(*self._results.popleft())
            count += 1
        return count

    def _late(self, lateness: float) -> None:
        """On the probe thread: a probe started ``lateness`` seconds after its time. A float's
        assignment is atomic; the main loop reads the last one."""
        self.lag = lateness
        if self.on_late is not None:
            self.on_late(lateness)

    def retarget(self, targets: list[Target]) -> None:
        """A reloaded config (see `Prober.retarget`), applied on the probe loop."""
        self.targets = targets
        if self._loop is not None and self._prober is not None:
            self._loop.call_soon_threadsafe(self._prober.retarget, targets)

    async def stop(self) -> None:
        """Cancel the probes in flight, end the thread, and hand over what it finished."""
        loop, prober, thread = self._loop, self._prober, self._thread
        if loop is None or prober is None or thread is None:
            return
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(prober.stop(), loop))
        loop.call_soon_threadsafe(loop.stop)
        await asyncio.to_thread(thread.join)
        self.drain()


def settle(future: asyncio.Future[None], failure: Exception | None) -> None:
    """Resolve a start-up future from another thread's report, once."""
    if future.done():
        return
    if failure is None:
        future.set_result(None)
    else:
        future.set_exception(failure)
