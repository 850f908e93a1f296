"""The probe schedule: a fixed grid per service, the first round spread over one interval,
at most max_overlap runs of one service at once (sampling keeps its pace while a server
hangs), missed runs skipped rather than piled up, and a stop that cancels what is in flight."""

from __future__ import annotations

import asyncio
import itertools
import logging
from datetime import UTC, datetime, timedelta

import pytest

from outagewatch.config import ImapService, Rules, parse_config
from outagewatch.config.services import Service
from outagewatch.config.targets import Target, targets_of
from outagewatch.daemon.scheduler import Prober, next_due
from outagewatch.probes import ProbeResult
from outagewatch.sim import ImapServer
from tests.daemon.test_probe_loop import hold_the_loop


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
        prober = Prober([target(server.port, overlap=3)], lambda t, r: results.append(r))
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
        prober = Prober([target(server.port, overlap=1)], lambda t, r: None)

        def sink(_: Target, result: ProbeResult) -> None:
            results.append(result)
            planned.append(prober.slots[0].due)  # the next run, in the loop's time
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
    # is a whole number of intervals after the first: no jitter, and no drift from a late run
    # (the grid itself is checked exactly below).
    steps = [(b - a) / interval.total_seconds() for a, b in itertools.pairwise(planned)]
    assert all(step >= 1 - 1e-9 and abs(step - round(step)) < 1e-6 for step in steps), steps


INTERVAL = 0.2


def estate(count: int, max_overlap: int = 3) -> list[Target]:
    services = {f"s{i}": {"protocol": "imap", "host": "127.0.0.1"} for i in range(count)}
    config = parse_config(
        {
            "rules": {"probe_interval": f"{int(INTERVAL * 1000)}ms", "max_overlap": max_overlap},
            "platforms": {
                "p": {
                    "name": "P",
                    "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                    "services": services,
                }
            },
        }
    )
    return targets_of(config)


def result() -> ProbeResult:
    return ProbeResult(datetime.now(UTC), 0.001, True, None, {}, "")


@pytest.mark.parametrize(
    ("due", "now", "expected"),
    [
        (10.0, 10.001, 12.0),  # on time: one interval later
        (10.0, 11.9, 12.0),  # late within the interval: still the grid
        (10.0, 12.0, 12.0),
        (10.0, 12.5, 14.0),  # fell behind past the next run: the first one not yet past
        (10.0, 17.0, 18.0),
    ],
)
def test_next_due_stays_on_the_grid(due: float, now: float, expected: float) -> None:
    assert next_due(due, 2.0, now) == expected


async def test_first_round_spread_then_every_interval_on_the_grid() -> None:
    targets = estate(4)
    started: list[tuple[str, float]] = []
    got_three_rounds = asyncio.Event()

    async def probe(service: Service, rules: Rules) -> ProbeResult:
        return result()

    def sink(target: Target, _: ProbeResult) -> None:
        started.append((target.service_id, asyncio.get_running_loop().time()))
        if len(started) == 12:
            got_three_rounds.set()

    prober = Prober(targets, sink, probe)
    prober.start()
    first_due = [slot.due for slot in prober.slots]
    async with asyncio.timeout(10):
        await got_three_rounds.wait()
    await prober.stop()
    # Spread over one interval in the order of the config, and a grid from there on.
    assert first_due == sorted(first_due)
    assert first_due[-1] - first_due[0] == pytest.approx(INTERVAL * 3 / 4)
    assert [name for name, _ in started[:4]] == ["s0", "s1", "s2", "s3"]
    for slot, due in zip(prober.slots, first_due, strict=True):
        rounds = round((slot.due - due) / INTERVAL)
        assert rounds >= 3
        assert slot.due == pytest.approx(due + rounds * INTERVAL)  # no drift, no jitter


async def test_a_hung_service_gets_at_most_max_overlap_probes() -> None:
    [target] = estate(1, max_overlap=2)
    hung: list[asyncio.Event] = []
    skipped = asyncio.Event()

    class OnSkip(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "skipped" in record.getMessage():
                skipped.set()

    async def probe(service: Service, rules: Rules) -> ProbeResult:
        hung.append(asyncio.Event())
        await hung[-1].wait()  # a server that never answers
        return result()

    handler = OnSkip()
    logging.getLogger("outagewatch.daemon.scheduler").addHandler(handler)
    prober = Prober([target], lambda *_: None, probe)
    try:
        prober.start()
        async with asyncio.timeout(10):
            await skipped.wait()
        assert len(hung) == 2 and prober.slots[0].running == 2  # the third run was skipped
    finally:
        await prober.stop()
        logging.getLogger("outagewatch.daemon.scheduler").removeHandler(handler)
    assert not prober.in_flight and prober.slots[0].running == 0


async def test_stop_cancels_probes_in_flight_and_nothing_reaches_the_sink() -> None:
    targets = estate(3)
    began = asyncio.Event()
    sunk: list[Target] = []

    async def probe(service: Service, rules: Rules) -> ProbeResult:
        began.set()
        await asyncio.Event().wait()
        return result()

    prober = Prober(targets, lambda target, _: sunk.append(target), probe)
    prober.start()
    async with asyncio.timeout(10):
        await began.wait()
    await prober.stop()
    assert not prober.in_flight and not sunk
    assert all(slot.timer is not None and slot.timer.cancelled() for slot in prober.slots)


async def test_a_probe_started_late_says_how_late() -> None:
    """The probe loop's lag is the lateness of its probes' starts: no watcher wakes it."""
    [target] = estate(1)
    told: list[float] = []
    first = asyncio.Event()

    async def probe(service: Service, rules: Rules) -> ProbeResult:
        return result()

    def on_late(lateness: float) -> None:
        told.append(lateness)
        first.set()

    prober = Prober([target], lambda *_: None, probe, on_late=on_late)
    prober.start()  # the first probe is due now
    hold_the_loop(0.15)  # the probe cannot start on time
    async with asyncio.timeout(10):
        await first.wait()
    await prober.stop()
    assert told[0] >= 0.15
