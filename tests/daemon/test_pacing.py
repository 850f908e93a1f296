"""When detection rounds run: a batch of results or the quiet tick calls the next round,
never sooner than a tick after the one before (daemon/pacing.py)."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest

from outagewatch.config import ImapService, Rules
from outagewatch.config.targets import Target
from outagewatch.daemon.pacing import Pace
from outagewatch.daemon.probe_loop import ProbeLoop
from tests.daemon.test_probe_loop import server_in_thread


def every(seconds: float, name: str = "imap", port: int = 143) -> Target:
    rules = Rules(probe_interval=timedelta(seconds=seconds), slow_after=timedelta(seconds=5))
    service = ImapService(protocol="imap", host="127.0.0.1", port=port)
    return Target("eu-de-1", name, service, rules)


@pytest.mark.parametrize(
    ("intervals", "tick", "quiet"),
    [
        ([30.0], 1.0, 5.0),  # the default rules: a round a second at most, every 5 s at least
        ([8.0, 60.0], 1.0, 2.0),  # the shortest interval counts: judged 4 times an interval
        ([0.2], 0.05, 0.05),  # compressed timings (tests, demo)
        ([2.0], 0.5, 0.5),
    ],
)
def test_the_pace_follows_the_shortest_probe_interval(
    intervals: list[float], tick: float, quiet: float
) -> None:
    pace = Pace.of([every(seconds, f"s{i}") for i, seconds in enumerate(intervals)])
    assert (pace.tick, pace.quiet) == (tick, quiet)


async def test_without_a_batch_the_next_round_comes_after_the_quiet_tick() -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    await Pace(tick=0.02, quiet=0.2).next_round(started, asyncio.Event(), asyncio.Event())
    assert loop.time() >= started + 0.2


async def test_a_batch_calls_the_next_round_but_not_before_a_tick() -> None:
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    wake.set()  # a batch arrived during the round
    started = loop.time()
    await asyncio.wait_for(Pace(tick=0.1, quiet=30).next_round(started, wake, asyncio.Event()), 10)
    assert loop.time() >= started + 0.1


async def test_a_stop_is_not_held_for_a_tick() -> None:
    loop = asyncio.get_running_loop()
    wake, stopping = asyncio.Event(), asyncio.Event()
    started = loop.time()
    waiting = asyncio.create_task(Pace(tick=30, quiet=60).next_round(started, wake, stopping))
    stopping.set()
    wake.set()
    await asyncio.wait_for(waiting, 10)
    assert loop.time() < started + 30


async def test_the_probe_loop_calls_for_a_round_once_a_batch_waits() -> None:
    called: list[int] = []
    batch = asyncio.Event()

    def on_batch() -> None:
        called.append(threading.get_ident())
        batch.set()

    with server_in_thread() as running:
        port = running.server.port
        targets = [every(1.0, "imap", port), every(1.0, "imap-2", port)]
        probes = ProbeLoop(targets, lambda *_: None, on_batch=on_batch, batch=2)
        await probes.start()
        try:
            await asyncio.wait_for(batch.wait(), 10)
            assert probes.drain() >= 2
        finally:
            await probes.stop()
    assert called[0] == threading.get_ident()  # on the main loop, not the probe thread
