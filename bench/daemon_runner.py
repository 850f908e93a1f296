"""The deployed daemon under measurement: `outagewatch run` (API on, SQLite) in its own process,
scraped like Prometheus scrapes it, while it probes the simulators.

During the whole run the harness scrapes ``/metrics`` every ``scrape_every`` seconds (asking
for gzip, as Prometheus does) and asks ``/healthz`` during each scrape, and every
``HEALTHZ_EVERY`` seconds besides (how quickly the event loop answers). After the run the
probes are read from the daemon's SQLite file: each sample's ``started_at`` is when its
transaction began, so ``started_at + duration`` is when it ended (probes/runner.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.blackbox import read_cpu, read_peak_rss_kb
from bench.daemon_config import write_config
from bench.layout import PASSWORD, PASSWORD_ENV, TargetSpec

STARTUP_ALLOWANCE = 300.0
HEALTHZ_EVERY = 0.25
HEALTHZ_AFTER = 0.005  # into a scrape: the exposition is being built
STOP_ALLOWANCE = 60.0
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


@dataclass(frozen=True)
class DaemonProbe:
    name: str
    start: float  # perf_counter
    duration: float
    ok: bool


@dataclass
class DaemonRun:
    spawned: float
    ready: float  # /healthz first answered
    window: tuple[float, float] = (0.0, 0.0)
    cpu: float = 0.0
    peak_rss_kb: int = 0
    rss_end_kb: int = 0
    scrapes: list[Scrape] = field(default_factory=list)
    healthz: list[tuple[float, float]] = field(default_factory=list)  # (at, seconds)
    probes: list[DaemonProbe] = field(default_factory=list)
    failed_scrapes: int = 0


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
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("outagewatch.db*"):
        stale.unlink()
    port = _free_port()
    config = write_config(
        targets, interval=interval, port=port, folder=workdir, probe_workers=probe_workers
    )
    env = {**os.environ, PASSWORD_ENV: PASSWORD}
    wall_offset = time.time() - time.perf_counter()
    with (workdir / "daemon.log").open("ab") as log:
        spawned = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - our own package, our own config
            [sys.executable, "-m", "outagewatch", "run", "-c", str(config)],
            stdout=log,
            stderr=log,
            env=env,
        )
        try:
            if cpu is not None:
                os.sched_setaffinity(process.pid, {cpu})
            run = asyncio.run(_drive(process.pid, port, spawned, scrape_every, warmup, duration))
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_ALLOWANCE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    run.probes = _probes(workdir / "outagewatch.db", wall_offset)
    return run


async def _drive(
    pid: int, port: int, spawned: float, scrape_every: float, warmup: float, duration: float
) -> DaemonRun:
    base = f"http://127.0.0.1:{port}"
    timeout = aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        ready = await _wait_ready(session, base, spawned)
        run = DaemonRun(spawned=spawned, ready=ready)
        start = time.perf_counter() + warmup
        run.window = (start, start + duration)
        tasks = [
            asyncio.create_task(_scrape_until(session, base, scrape_every, run)),
            asyncio.create_task(_poll_healthz(session, base, run)),
        ]
        await asyncio.sleep(warmup)
        cpu_start = _tree_cpu(pid)
        await asyncio.sleep(duration)
        cpu_end = _tree_cpu(pid)
        run.cpu = sum(cpu_end.values()) - sum(cpu_start.get(p, 0.0) for p in cpu_end)
        tree = list(cpu_end)
        run.peak_rss_kb = sum(read_peak_rss_kb(p) for p in tree)
        run.rss_end_kb = sum(_rss_kb(p) for p in tree)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return run


async def _wait_ready(session: aiohttp.ClientSession, base: str, spawned: float) -> float:
    while time.perf_counter() - spawned < STARTUP_ALLOWANCE:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return time.perf_counter()
        await asyncio.sleep(0.05)  # another process: polling is all there is
    raise RuntimeError(f"outagewatch run did not become ready in {STARTUP_ALLOWANCE:g} s")


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
        scrape = asyncio.create_task(_get(session, f"{base}/metrics", gzip_ok=True))
        await asyncio.sleep(HEALTHZ_AFTER)
        healthz = await _timed_healthz(session, base)
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


async def _poll_healthz(session: aiohttp.ClientSession, base: str, run: DaemonRun) -> None:
    while True:
        at = time.perf_counter()
        seconds = await _timed_healthz(session, base)
        if run.window[0] <= at <= run.window[1]:
            run.healthz.append((at, seconds))
        await asyncio.sleep(HEALTHZ_EVERY)


async def _timed_healthz(session: aiohttp.ClientSession, base: str) -> float:
    """Seconds until /healthz answered; an answer that never came counts as the timeout."""
    started = time.perf_counter()
    try:
        _, seconds = await _get(session, f"{base}/healthz", gzip_ok=False)
    except (TimeoutError, aiohttp.ClientError):
        return time.perf_counter() - started
    return seconds


async def _get(session: aiohttp.ClientSession, url: str, *, gzip_ok: bool) -> tuple[bytes, float]:
    headers = {"Accept-Encoding": "gzip" if gzip_ok else "identity"}
    started = time.perf_counter()
    async with session.get(url, headers=headers) as response:
        body = await response.read()
    return body, time.perf_counter() - started


def _probes(database: Path, wall_offset: float) -> list[DaemonProbe]:
    """Every sample the daemon stored, its start on the harness's perf_counter clock.
    (The one place that knows the samples table; adapt it when the schema changes.)"""
    # Compact samples (migration 0009): the start and the duration in whole milliseconds,
    # the service through the series table, no error kind when the probe succeeded.
    with contextlib.closing(sqlite3.connect(database)) as conn:
        rows = conn.execute(
            "SELECT r.service, s.started_at, s.duration, s.error_kind IS NULL"
            " FROM samples s JOIN series r ON r.id = s.series_id"
        ).fetchall()
    return [
        DaemonProbe(name, started_ms / 1000 - wall_offset, duration_ms / 1000, bool(ok))
        for name, started_ms, duration_ms, ok in rows
    ]


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it: the probe workers are children of the fork
    server, a child of the daemon."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                found += _descendants(int(child))
    return found


def _tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of the daemon and its probe workers (and their fork server), by pid."""
    return {p: read_cpu(p) for p in _descendants(pid)}
