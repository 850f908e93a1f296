"""The probes' own loop and thread: their stopwatch no longer waits for the main loop.

The simulated server runs on a thread of its own too, so that a main loop held by work
(a judgement, a scrape) holds neither the probe nor the server: only the GIL is shared.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest

from outagewatch.config import ImapService, Rules
from outagewatch.config.targets import Target
from outagewatch.daemon.probe_loop import ProbeLoop
from outagewatch.daemon.scheduler import Prober, Sink
from outagewatch.probes import ProbeResult
from outagewatch.sim import ImapServer

GREETING = 0.1  # the server's delay before its greeting: the probe is in flight meanwhile
HOLD = 0.6  # how long the main loop computes without a pause


@dataclass
class ServerThread:
    server: ImapServer
    loop: asyncio.AbstractEventLoop

    async def accepted(self, count: int) -> None:
        """Until the server, on its own loop, accepted ``count`` connections."""
        waiting = asyncio.run_coroutine_threadsafe(self.server.wait_accepted(count), self.loop)
        await asyncio.wait_for(asyncio.wrap_future(waiting), timeout=10)


@contextmanager
def server_in_thread(**faults: float | bool) -> Iterator[ServerThread]:
    started = threading.Event()
    box: list[tuple[ServerThread, asyncio.Event]] = []

    async def serve() -> None:
        async with ImapServer() as server:
            for name, value in faults.items():
                setattr(server.faults, name, value)
            stopping = asyncio.Event()
            box.append((ServerThread(server, asyncio.get_running_loop()), stopping))
            started.set()
            await stopping.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(10), "the simulated server did not start"
    running, stopping = box[0]
    try:
        yield running
    finally:
        running.loop.call_soon_threadsafe(stopping.set)
        thread.join(10)


def target(port: int) -> Target:
    rules = Rules(
        slow_after=timedelta(seconds=5),
        probe_interval=timedelta(seconds=30),  # one probe in the test's time
        probe_timeout=timedelta(seconds=10),
    )
    return Target(
        "eu-de-1", "imap", ImapService(protocol="imap", host="127.0.0.1", port=port), rules
    )


def hold_the_loop(seconds: float) -> None:
    """The main loop busy computing, as a round of judgement or a scrape keeps it."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def collecting() -> tuple[list[tuple[ProbeResult, int]], asyncio.Event, Sink]:
    """A sink that keeps each result with the thread it arrived on, and says when one did."""
    results: list[tuple[ProbeResult, int]] = []
    arrived = asyncio.Event()

    def sink(_: Target, result: ProbeResult) -> None:
        results.append((result, threading.get_ident()))
        arrived.set()

    return results, arrived, sink


async def one_result(results: list[tuple[ProbeResult, int]], arrived: asyncio.Event) -> ProbeResult:
    await asyncio.wait_for(arrived.wait(), timeout=10)
    return results[0][0]


async def drained(probes: ProbeLoop, arrived: asyncio.Event) -> None:
    """Take the probe loop's results as the daemon's detection round does (once a tick,
    here every 10 ms), until the sink saw what the test waits for."""
    for _ in range(1000):
        probes.drain()
        if arrived.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the probe loop handed over nothing within 10 s")


@pytest.mark.solo
async def test_a_busy_main_loop_is_not_in_the_duration_of_a_probe_on_the_probe_loop() -> None:
    results, arrived, sink = collecting()

    with server_in_thread(greeting_delay=GREETING) as running:
        probes = ProbeLoop([target(running.server.port)], sink)
        await probes.start()
        try:
            await running.accepted(1)
            hold_the_loop(HOLD)
            await drained(probes, arrived)
            result = await one_result(results, arrived)
        finally:
            await probes.stop()
    assert result.ok, result.detail
    assert GREETING <= result.duration < GREETING + 0.2, result.duration
    assert results[0][1] == threading.get_ident()  # handed over on the main loop


async def test_on_the_main_loop_the_same_probe_measures_the_hold() -> None:
    """The control: without a loop of its own, the probe's clock runs on while the loop is
    held (this is what the probe loop is for; if this ever measured less, the test above
    would prove nothing)."""
    results, arrived, sink = collecting()

    with server_in_thread(greeting_delay=GREETING) as running:
        prober = Prober([target(running.server.port)], sink)
        prober.start()
        try:
            await running.accepted(1)
            hold_the_loop(HOLD)
            result = await one_result(results, arrived)
        finally:
            await prober.stop()
    assert result.duration >= HOLD, result.duration


async def test_stop_cancels_hung_probes_and_ends_the_thread() -> None:
    with server_in_thread(hang=True) as running:
        probes = ProbeLoop([target(running.server.port)], lambda *_: None)
        await probes.start()
        await running.accepted(1)
        thread = probes._thread
        assert thread is not None and thread.is_alive()
        await asyncio.wait_for(probes.stop(), timeout=10)
        assert not thread.is_alive()


async def test_a_reload_reaches_the_probe_loop() -> None:
    seen: set[str] = set()
    both = asyncio.Event()

    def sink(t: Target, _: ProbeResult) -> None:
        seen.add(t.service_id)
        if seen == {"imap", "imap-2"}:
            both.set()

    with server_in_thread() as running:
        first = target(running.server.port)
        probes = ProbeLoop([first], sink)
        await probes.start()
        try:
            second = Target("eu-de-1", "imap-2", first.service, first.rules)
            probes.retarget([first, second])
            await drained(probes, both)
        finally:
            await probes.stop()
    assert seen == {"imap", "imap-2"}
