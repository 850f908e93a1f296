"""A probe worker's hand-over (daemon/worker_process.py): results cross the pipe in batches,
at once when the pipe has been quiet, at most one batch per ``every`` while they keep coming,
none lost, none twice, in sequence."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection

from outagewatch.config import HttpService, Rules
from outagewatch.config.targets import Target
from outagewatch.daemon.pacing import Pace
from outagewatch.daemon.worker_process import HAND_OVER, Batch, Hand, hand_over_every
from outagewatch.probes import ProbeResult

RESULT = ProbeResult(datetime.now(UTC), 0.01, ok=True, error_kind=None, phases={}, detail="GET 200")


def target(name: str, interval: float = 30.0) -> Target:
    rules = Rules(probe_interval=timedelta(seconds=interval))
    return Target("eu-de-1", name, HttpService(protocol="http", url="http://[::1]/"), rules)


@contextmanager
def pipe() -> Iterator[tuple[Connection, Connection]]:
    reader, writer = multiprocessing.Pipe(duplex=False)
    try:
        yield reader, writer
    finally:
        reader.close()
        writer.close()


def batches(reader: Connection) -> list[Batch]:
    got = []
    while reader.poll(0):
        got.append(pickle.loads(reader.recv_bytes()))  # noqa: S301 - the test's own pipe
    return got


async def turn() -> None:
    await asyncio.sleep(0)


async def test_a_result_after_a_quiet_spell_goes_in_the_same_turn() -> None:
    with pipe() as (reader, writer):
        hand = Hand(writer, every=60.0)
        hand.flush()  # sequence 0: probing
        hand.sent_at -= 60.0  # the last batch is a minute old
        hand.result(target("a"), RESULT)
        await turn()
        assert [(seq, [key for key, _ in results]) for seq, _, results in batches(reader)] == [
            (0, []),
            (1, [("eu-de-1", "a")]),
        ]


async def test_results_that_keep_coming_share_one_batch_per_interval() -> None:
    with pipe() as (reader, writer):
        hand = Hand(writer, every=0.3)
        hand.flush()  # sequence 0, just now: the next batch waits its turn
        names = [f"s{i}" for i in range(20)]
        for name in names:
            hand.result(target(name), RESULT)
            await turn()
        assert batches(reader) == [(0, 0.0, [])]  # nothing yet: the batch is not due
        assert await asyncio.to_thread(reader.poll, 10.0)
        (seq, _, results), *more = batches(reader)
        assert (seq, more) == (1, [])
        assert [key[1] for key, _ in results] == names


async def test_a_late_result_starts_the_next_batch() -> None:
    with pipe() as (reader, writer):
        hand = Hand(writer, every=0.2)
        hand.flush()
        got = batches(reader)
        for name, lateness in (("a", 0.0), ("b", 0.004)):
            hand.late(lateness)
            hand.result(target(name), RESULT)
            assert await asyncio.to_thread(reader.poll, 10.0)
            got += batches(reader)
        assert [(seq, late, [k[1] for k, _ in r]) for seq, late, r in got] == [
            (0, 0.0, []),
            (1, 0.0, ["a"]),
            (2, 0.004, ["b"]),
        ]


def test_the_interval_is_the_daemons_round_tick_when_that_is_shorter() -> None:
    assert hand_over_every([target("a", 30.0)]) == HAND_OVER
    fast = [target("a", 0.2)]
    assert hand_over_every(fast) == Pace.of(fast).tick < HAND_OVER
    assert hand_over_every([]) == HAND_OVER
