"""The deployed daemon under measurement: `outagewatch run` (API on, SQLite) in its own process,
scraped like Prometheus scrapes it, while it probes the simulators.

During the whole run the harness scrapes ``/metrics`` every ``scrape_every`` seconds (asking
for gzip, as Prometheus does) and asks ``/healthz`` during each scrape, and every
``HEALTHZ_EVERY`` seconds besides (how quickly the event loop answers). After the run the
probes are read from the daemon's SQLite file (daemon_process.py).
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.blackbox import read_peak_rss_kb
from bench.daemon_process import (
    DaemonProbe,
    cpu_between,
    deployed,
    poll_healthz,
    read_probes,
    rss_kb,
    timed_get,
    timed_healthz,
    tree_cpu,
    wait_ready,
)
from bench.layout import TargetSpec

HEALTHZ_AFTER = 0.005  # into a scrape: the exposition is being built
SCRAPE_TIMEOUT = 10.0  # Prometheus's default scrape_timeout


@dataclass(frozen=True)
class Scrape:
    started: float  # perf_counter of the harness (CLOCK_MONOTONIC, shared with the daemon)
    seconds: float
    body: bytes  # as it came on the wire (gzip): read after the run, see _scrape_until
    healthz: float  # seconds /healthz took while this scrape ran

    @property
    def size(self) -> int:
        return len(self.body)

    @functools.cached_property
    def raw(self) -> bytes:
        return gzip.decompress(self.body)

    @property
    def raw_size(self) -> int:
        return len(self.raw)

    @property
    def series(self) -> int:
        raw = self.raw
        return raw.count(b"\n") - raw.count(b"\n#") - (1 if raw.startswith(b"#") else 0)


@dataclass
class DaemonRun:
    spawned: float
    ready: float  # /healthz first answered
    window: tuple[float, float] = (0.0, 0.0)
    cpu: float = 0.0
    peak_rss_kb: int = 0
    rss_end_kb: int = 0
    scrapes: list[Scrape] = field(default_factory=list)
    # (at, seconds) through the whole run, every HEALTHZ_EVERY
    healthz: list[tuple[float, float]] = field(default_factory=list)
    probes: list[DaemonProbe] = field(default_factory=list)
    failed_scrapes: int = 0
    probes_on: str = ""  # see probes_on()


def run_daemon(
    targets: list[TargetSpec],
    *,
    interval: float,
    scrape_every: float,
    warmup: float,
    duration: float,
    workdir: Path,
    cpu: int | None,
    probe_workers: str | None = None,
) -> DaemonRun:
    with deployed(
        targets, interval=interval, workdir=workdir, cpu=cpu, probe_workers=probe_workers
    ) as daemon:
        run = asyncio.run(
            _drive(daemon.pid, daemon.port, daemon.spawned, scrape_every, warmup, duration)
        )
    run.probes = read_probes(workdir / "outagewatch.db", daemon.wall_offset)
    run.probes_on = daemon.probes_on
    return run


async def _drive(
    pid: int, port: int, spawned: float, scrape_every: float, warmup: float, duration: float
) -> DaemonRun:
    base = f"http://127.0.0.1:{port}"
    timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        ready = await wait_ready(session, base, spawned)
        run = DaemonRun(spawned=spawned, ready=ready)
        start = time.perf_counter() + warmup
        run.window = (start, start + duration)
        tasks = [
            asyncio.create_task(_scrape_until(session, base, scrape_every, run)),
            asyncio.create_task(poll_healthz(session, base, run.healthz)),
        ]
        await asyncio.sleep(warmup)
        cpu_start = tree_cpu(pid)
        await asyncio.sleep(duration)
        cpu_end = tree_cpu(pid)
        run.cpu = cpu_between(cpu_start, cpu_end)
        tree = list(cpu_end)
        run.peak_rss_kb = sum(read_peak_rss_kb(p) for p in tree)
        run.rss_end_kb = sum(rss_kb(p) for p in tree)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return run


async def _scrape_until(
    session: aiohttp.ClientSession, base: str, every: float, run: DaemonRun
) -> None:
    """Scrapes on a fixed grid, as Prometheus does; each with a /healthz inside it.

    The bodies are decompressed and counted after the run, not here: 14 MB of gunzip took
    this loop 55-90 ms, which a /healthz poll in flight then measured as the daemon's, and
    took the simulators' core, which the probes of the moment then measured as theirs."""
    next_at = time.perf_counter()
    while True:
        started = time.perf_counter()
        scrape = asyncio.create_task(timed_get(session, f"{base}/metrics", gzip_ok=True))
        await asyncio.sleep(HEALTHZ_AFTER)
        healthz = await timed_healthz(session, base)
        in_window = run.window[0] <= started <= run.window[1]
        try:
            body, seconds = await scrape
        except (TimeoutError, aiohttp.ClientError):
            # As Prometheus would see it: the target was down for this scrape.
            run.failed_scrapes += 1 if in_window else 0
        else:
            if in_window:
                run.scrapes.append(Scrape(started, seconds, body, healthz))
        next_at += every
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
