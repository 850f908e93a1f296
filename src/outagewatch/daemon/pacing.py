"""When the next detection round runs: as its results and time call for it.

A round has fixed costs (a hop through the database's thread to write, another to read back,
a pass over the tracks) whatever it carries. At 100 services every 30 s a round a second
carried three or four results and cost 2.25 ms of CPU a second, a third of what the probes
themselves cost (docs/BENCHMARKS.md). So a round now waits until a batch of results
is waiting, or until the ``quiet`` tick has passed, whichever comes first, but never less than
``tick`` after the round before: a large estate keeps its round a second, a small one has a
round every few seconds.

``quiet`` is at most 5 s, and a quarter of the shortest probe interval: time alone turns a bad
run into an outage (15 minutes by default), so it is judged a few seconds late at most, and a
result reaches the API and the metrics within that.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from outagewatch.config.targets import Target

BATCH = 100  # results that make a round worth its fixed costs
QUIET_CAP = 5.0
TICK_CAP = 1.0
TICK_FLOOR = 0.05


@dataclass(frozen=True)
class Pace:
    tick: float  # the soonest a round follows the one before, seconds
    quiet: float  # the latest, with too few results waiting to call it sooner

    @classmethod
    def of(cls, targets: list[Target]) -> Pace:
        shortest = min(t.rules.probe_interval.total_seconds() for t in targets)
        tick = min(TICK_CAP, max(TICK_FLOOR, shortest / 4))
        return cls(tick=tick, quiet=min(QUIET_CAP, max(tick, shortest / 4)))

    async def next_round(
        self, started: float, wake: asyncio.Event, stopping: asyncio.Event
    ) -> None:
        """Return when the round after the one that began at ``started`` (the loop's time) is
        due. ``wake`` is set by a waiting batch, a reload or a stop; the caller clears it
        before its round."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout_at(started + self.quiet):
                await wake.wait()
        except TimeoutError:
            return
        rest = started + self.tick - loop.time()
        if rest > 0 and not stopping.is_set():
            await asyncio.sleep(rest)
