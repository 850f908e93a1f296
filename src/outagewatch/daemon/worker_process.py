"""A probe worker process (daemon/probe_workers.py starts it): it probes its share of the
services on its own loop and hands each turn's results to the daemon as one batch."""

from __future__ import annotations

import asyncio
import pickle
import signal
from multiprocessing.connection import Connection
from typing import Literal

from outagewatch.config.targets import Target
from outagewatch.daemon.collector import freeze_long_lived_objects
from outagewatch.daemon.scheduler import Prober
from outagewatch.logs import configure as configure_logging
from outagewatch.probes import ProbeResult
from outagewatch.probes.x509_preload import preload_x509

Key = tuple[str, str]
Batch = tuple[int, float, list[tuple[Key, ProbeResult]]]  # sequence, lateness, results


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


class _Hand:
    """Sends what finished in one turn of the loop as one batch, at the end of that turn."""

    def __init__(self, results: Connection) -> None:
        self.results = results
        self.pending: list[tuple[Key, ProbeResult]] = []
        self.seq = 0
        self.lateness = 0.0

    def result(self, target: Target, result: ProbeResult) -> None:
        if not self.pending:
            asyncio.get_running_loop().call_soon(self.flush)
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


async def _probe(share: list[Target], results: Connection, control: Connection) -> None:
    loop = asyncio.get_running_loop()
    preload_x509(t.service for t in share)
    hand = _Hand(results)
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
