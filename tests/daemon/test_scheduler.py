"""Sampling keeps its pace while a server hangs, and stopping cancels what is in flight."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

from outagewatch.config import ImapService, Rules
from outagewatch.config.targets import Target
from outagewatch.daemon.scheduler import Prober
from outagewatch.probes import ProbeResult
from outagewatch.sim import ImapServer


def target(port: int, *, overlap: int) -> Target:
    rules = Rules(
        slow_after=timedelta(seconds=1),
        probe_interval=timedelta(milliseconds=200),
        probe_timeout=timedelta(seconds=5),
        max_overlap=overlap,
    )
    service = ImapService(protocol="imap", host="127.0.0.1", port=port)
    return Target("eu-de-1", "imap", service, rules)


async def test_probes_overlap_up_to_the_bound_while_a_server_hangs() -> None:
    results: list[ProbeResult] = []
    before = asyncio.all_tasks()
    async with ImapServer() as server:
        server.faults.hang = True
        prober = Prober(
            [target(server.port, overlap=3)], lambda t, r: results.append(r), datetime.now(UTC)
        )
        prober.start()
        try:
            # Three probes start 200 ms apart although none of them has finished.
            await asyncio.wait_for(server.wait_accepted(3), timeout=3)
            assert len(prober.in_flight) == 3
            assert results == []
        finally:
            await prober.stop()
        assert prober.in_flight == set()  # cancelled and awaited, nothing left behind
    assert asyncio.all_tasks() == before


async def test_results_reach_the_sink_on_a_schedule_that_never_drifts() -> None:
    results: list[ProbeResult] = []
    planned: list[datetime] = []  # the job's next run, as each result arrives
    done = asyncio.Event()
    interval = timedelta(milliseconds=200)

    async with ImapServer() as server:
        prober = Prober([target(server.port, overlap=1)], lambda t, r: None, datetime.now(UTC))
        job = prober.scheduler.get_job("eu-de-1/imap")

        def sink(_: Target, result: ProbeResult) -> None:
            results.append(result)
            planned.append(job.next_run_time)
            if len(results) == 4:
                done.set()

        prober.sink = sink
        prober.start()
        try:
            await asyncio.wait_for(done.wait(), timeout=30)
        finally:
            await prober.stop()
    assert all(r.ok for r in results)
    # When each run starts depends on this machine's load; the plan must not. Every next run
    # is a whole number of intervals after the first: no jitter, and no drift from a late run.
    steps = [(b - a) / interval for a, b in itertools.pairwise(planned)]
    assert all(step >= 1 and step == int(step) for step in steps), steps
