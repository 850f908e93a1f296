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


async def test_results_reach_the_sink_at_the_interval() -> None:
    results: list[ProbeResult] = []
    done = asyncio.Event()

    def sink(_: Target, result: ProbeResult) -> None:
        results.append(result)
        if len(results) == 4:
            done.set()

    async with ImapServer() as server:
        prober = Prober([target(server.port, overlap=1)], sink, datetime.now(UTC))
        prober.start()
        try:
            await asyncio.wait_for(done.wait(), timeout=5)
        finally:
            await prober.stop()
    assert all(r.ok for r in results)
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in itertools.pairwise(results)]
    assert all(0.18 <= gap <= 0.25 for gap in gaps), gaps  # 200 ms: no jitter, no drift
