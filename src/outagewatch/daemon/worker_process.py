"""A probe worker process (daemon/probe_workers.py starts it): it probes its share of the
services on its own loop and hands its results to the daemon in batches.

A batch goes at the end of the loop's turn in which a result finished, unless the last one
went less than ``HAND_OVER`` ago: then at that time. Every batch is a pickle, a write to the
pipe and a wake-up of the daemon's reader thread; at 100 probes a second, one batch a probe
was a fifth of the worker's CPU (docs/BENCHMARKS.md). The daemon takes results once a
detection round (``Pace.tick``, at least 50 ms apart), so a result waits no longer for it;
a probe's stopwatch stopped before it waits at all."""

from __future__ import annotations

import asyncio
import pickle
import signal
from multiprocessing.connection import Connection
from typing import Literal

from outagewatch.config.targets import Target
from outagewatch.daemon.collector import freeze_long_lived_objects
from outagewatch.daemon.pacing import Pace
from outagewatch.daemon.scheduler import Prober
from outagewatch.logs import configure as configure_logging
from outagewatch.probes import ProbeResult
from outagewatch.probes.x509_preload import preload_x509

Key = tuple[str, str]
Batch = tuple[int, float, list[tuple[Key, ProbeResult]]]  # sequence, lateness, results
HAND_OVER = 0.1  # seconds between batches at most, while results keep coming


def work(
    index: int,
    share: list[Target],
    results: Connection,
    control: Connection,
    logging_as: tuple[Literal["text", "json"], str],
) -> None:
    """A worker process: probe ``share`` until the daemon says stop or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's ^C is the daemon's to act on
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(*logging_as)
    asyncio.run(_probe(share, results, control))


def hand_over_every(share: list[Target]) -> float:
    """Seconds between batches: ``HAND_OVER``, or the daemon's round tick if that is shorter
    (compressed timings), so that no round misses a result a batch could have carried."""
    return min(HAND_OVER, Pace.of(share).tick) if share else HAND_OVER


class Hand:
    """Sends the results as batches: at the end of the turn in which one finished when the
    last batch is ``every`` seconds old, else when it will be."""

    def __init__(self, results: Connection, every: float) -> None:
        self.results = results
        self.every = every
        self.pending: list[tuple[Key, ProbeResult]] = []
        self.seq = 0
        self.lateness = 0.0
        self.sent_at = -every  # the loop's time of the last batch

    def result(self, target: Target, result: ProbeResult) -> None:
        if not self.pending:
            loop = asyncio.get_running_loop()
            due = self.sent_at + self.every
            if due <= loop.time():
                loop.call_soon(self.flush)
            else:
                loop.call_at(due, self.flush)
        self.pending.append((target.key, result))

    def late(self, lateness: float) -> None:
        self.lateness = lateness

    def flush(self) -> None:
        if not self.pending and self.seq > 0:
            return
        batch: Batch = (self.seq, self.lateness, self.pending)
        self.results.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))
        self.seq += 1
        self.pending = []
        self.sent_at = asyncio.get_running_loop().time()


async def _probe(share: list[Target], results: Connection, control: Connection) -> None:
    loop = asyncio.get_running_loop()
    preload_x509(t.service for t in share)
    hand = Hand(results, hand_over_every(share))
    prober = Prober(share, hand.result, on_late=hand.late)
    prober.start()
    hand.flush()  # sequence 0: probing
    done = asyncio.Event()

    def listen() -> None:
        try:
            what, targets = control.recv()
        except (EOFError, OSError):  # the daemon is gone
            what, targets = "stop", []
        if what == "targets":
            preload_x509(t.service for t in targets)
            hand.every = hand_over_every(targets)
            prober.retarget(targets)
        else:
            done.set()
            loop.remove_reader(control.fileno())

    loop.add_reader(control.fileno(), listen)
    freezing = loop.call_later(_longest_interval(share), freeze_long_lived_objects)
    await done.wait()
    freezing.cancel()
    await prober.stop()
    hand.flush()
    results.close()


def _longest_interval(share: list[Target]) -> float:
    """When every service of the share has its timer: the collector's freeze is worth it."""
    return max((t.rules.probe_interval.total_seconds() for t in share), default=30.0)
