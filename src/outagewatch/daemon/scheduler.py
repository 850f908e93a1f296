"""Each service probed every ``probe_interval`` on a fixed grid, the first round spread over
one interval, overlapping runs allowed up to ``max_overlap`` so that sampling keeps its pace
while a server hangs.

One event-loop timer per service (``loop.call_at``) starts its probe and sets the next. Not
APScheduler: adding 10,000 jobs to it takes 1.2 s of start-up (a signature inspection per
job), and every run goes through its executor, job store lock and event dispatch.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from outagewatch.config.rules import Rules
from outagewatch.config.services import Service
from outagewatch.config.targets import Target
from outagewatch.probes import ProbeResult, probe_service

log = logging.getLogger(__name__)

Sink = Callable[[Target, ProbeResult], None]
# Probes one service under its rules: probes.probe_service, or a stand-in of a test.
ServiceProbe = Callable[[Service, Rules], Awaitable[ProbeResult]]
Lateness = Callable[[float], None]


def next_due(due: float, interval: float, now: float) -> float:
    """The run after the one due at ``due``: one interval later on the grid or, when the loop
    has fallen behind beyond that, the first grid point not yet past: missed runs are
    skipped, never piled up."""
    following = due + interval
    if following >= now:
        return following
    return following + math.ceil((now - following) / interval) * interval


@dataclass
class _Slot:
    """One service's place in the schedule."""

    target: Target
    interval: float
    due: float
    running: int = 0
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class Prober:
    """Runs the probes on schedule and hands every result to ``sink`` (the batcher)."""

    def __init__(
        self,
        targets: list[Target],
        sink: Sink,
        probe: ServiceProbe | None = None,
        on_late: Lateness | None = None,
    ) -> None:
        self.targets = targets
        self.sink = sink
        # Told how late each probe started (seconds): the loop's lag where it matters, the
        # start of a stopwatch, without a watcher that wakes the loop for nothing.
        self.on_late = on_late
        self.probe = probe or probe_service
        self.in_flight: set[asyncio.Task[None]] = set()
        self.slots: list[_Slot] = []
        self.running = False

    def start(self) -> None:
        """The first round starts at once, spread over one interval: the services stay spread
        because every next run is on its own grid (no per-run jitter that would accumulate,
        docs/BENCHMARKS.md)."""
        self._start_slots(self.targets)
        self.running = True

    def retarget(self, targets: list[Target]) -> None:
        """A reloaded config: unchanged services keep their pace; removed ones stop (a probe
        in flight still reports); new and changed ones start within one interval."""
        kept = {t.key: t for t in targets}
        running = {t.key: t for t in self.targets}
        for slot in [s for s in self.slots if kept.get(s.target.key) != s.target]:
            if slot.timer is not None:
                slot.timer.cancel()
            self.slots.remove(slot)
        self.targets = targets
        if self.running:
            self._start_slots([t for t in targets if running.get(t.key) != t])

    def _start_slots(self, targets: list[Target]) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for index, target in enumerate(targets):
            interval = target.rules.probe_interval.total_seconds()
            slot = _Slot(target, interval, due=now + interval * index / len(targets))
            slot.timer = loop.call_at(slot.due, self._fire, slot)
            self.slots.append(slot)

    def _fire(self, slot: _Slot) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.on_late is not None:
            self.on_late(max(0.0, now - slot.due))
        if now - slot.due > slot.interval:
            pass  # the loop stood still for more than an interval: this run is stale
        elif slot.running < slot.target.rules.max_overlap:
            task = loop.create_task(self._probe(slot))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)
        else:
            log.warning(
                "probe of %s/%s skipped: %d still running",
                slot.target.platform,
                slot.target.service_id,
                slot.running,
            )
        slot.due = next_due(slot.due, slot.interval, now)
        slot.timer = loop.call_at(slot.due, self._fire, slot)

    async def _probe(self, slot: _Slot) -> None:
        slot.running += 1
        try:
            result = await self.probe(slot.target.service, slot.target.rules)
        except asyncio.CancelledError:
            return  # only stop() cancels a probe
        except Exception:  # a probe returns its failures; this would be our own bug
            log.exception("probe of %s/%s failed", slot.target.platform, slot.target.service_id)
            return
        finally:
            slot.running -= 1
        self.sink(slot.target, result)

    async def stop(self) -> None:
        """Stop scheduling and cancel the probes still waiting on servers."""
        for slot in self.slots:
            if slot.timer is not None:
                slot.timer.cancel()
        self.running = False
        tasks = list(self.in_flight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
