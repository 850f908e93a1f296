"""APScheduler jobs: each service probed every ``probe_interval``, spread out, overlapping
runs allowed up to ``max_overlap`` so that sampling keeps its pace while a server hangs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from outagewatch.config.targets import Target
from outagewatch.probes import ProbeResult, probe_service

log = logging.getLogger(__name__)


Sink = Callable[[Target, ProbeResult], None]


class Prober:
    """Runs the probes on schedule and hands every result to ``sink`` (the batcher)."""

    def __init__(self, targets: list[Target], sink: Sink, now: datetime) -> None:
        self.targets = targets
        self.sink = sink
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        self.in_flight: set[asyncio.Task[Any]] = set()
        self._schedule(targets, now)

    def retarget(self, targets: list[Target], now: datetime) -> None:
        """A reloaded config: unchanged services keep their pace; removed ones stop (a probe
        in flight still reports); new and changed ones start within one interval."""
        kept = {t.key: t for t in targets}
        running = {t.key: t for t in self.targets}
        for target in self.targets:
            if kept.get(target.key) != target:
                self.scheduler.remove_job(_job_id(target))
        self._schedule([t for t in targets if running.get(t.key) != t], now)
        self.targets = targets

    def _schedule(self, targets: list[Target], now: datetime) -> None:
        for index, target in enumerate(targets):
            interval = target.rules.probe_interval.total_seconds()
            self.scheduler.add_job(
                self._probe,
                "interval",
                args=(target,),
                id=_job_id(target),
                seconds=interval,
                # No per-run jitter: APScheduler 3 computes each next run from the previous,
                # already jittered one, so jitter accumulates (30 s became 31.5 s on average,
                # docs/BENCHMARKS.md finding 3). The first runs below spread the services
                # over one interval instead, and they stay spread.
                max_instances=target.rules.max_overlap,
                coalesce=False,
                misfire_grace_time=max(1, int(interval)),
                # The first round starts at once, spread over one interval.
                next_run_time=now + timedelta(seconds=interval * index / len(targets)),
            )

    def start(self) -> None:
        self.scheduler.start()

    async def _probe(self, target: Target) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.in_flight.add(task)
        try:
            result = await probe_service(target.service, target.rules)
        except asyncio.CancelledError:
            # Only stop() cancels a probe; ending quietly keeps APScheduler from logging
            # every probe still waiting on a hung server as a failed job at shutdown.
            return
        finally:
            self.in_flight.discard(task)
        self.sink(target, result)

    async def stop(self) -> None:
        """Stop scheduling and cancel the probes still waiting on servers."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        tasks = list(self.in_flight)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _job_id(target: Target) -> str:
    return f"{target.platform}/{target.service_id}"
