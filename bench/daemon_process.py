"""The deployed daemon as a process of a benchmark stage: `outagewatch run` on the stage's
config and a fresh SQLite file, pinned like the engine; its process tree's CPU and memory;
its health and readiness as an operator's checks see them; the probes it stored.

Each stored sample's ``started_at`` is when its transaction began, so ``started_at +
duration`` is when it ended (probes/runner.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.blackbox import read_cpu
from bench.children import die_with_parent
from bench.daemon_config import write_config
from bench.layout import PASSWORD, PASSWORD_ENV, TargetSpec
from outagewatch.config.model import auto_probe_workers

STARTUP_ALLOWANCE = 300.0
STOP_ALLOWANCE = 60.0
HEALTHZ_EVERY = 0.25  # as often as a liveness check could ask, and more


@dataclass(frozen=True)
class DaemonProbe:
    name: str
    start: float  # perf_counter
    duration: float
    ok: bool


@dataclass(frozen=True)
class Deployed:
    """A running `outagewatch run` of a stage."""

    pid: int
    port: int
    spawned: float  # perf_counter
    wall_offset: float  # time.time() - perf_counter(): from the stored probes' clock to ours
    probes_on: str  # where its probes run, as the report names it

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def deployed(
    targets: list[TargetSpec],
    *,
    interval: float,
    workdir: Path,
    cpu: int | None,
    probe_workers: str | None = None,
    status_page: bool = False,
) -> Iterator[Deployed]:
    """`outagewatch run` on a fresh SQLite file in ``workdir``, pinned to ``cpu``; stopped
    with SIGTERM when the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("outagewatch.db*"):
        stale.unlink()
    port = free_port()
    config = write_config(
        targets,
        interval=interval,
        port=port,
        folder=workdir,
        probe_workers=probe_workers,
        status_page=status_page,
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
            preexec_fn=die_with_parent,
        )
        try:
            if cpu is not None:
                os.sched_setaffinity(process.pid, {cpu})
            where = probes_on(probe_workers, len(os.sched_getaffinity(process.pid)))
            yield Deployed(process.pid, port, spawned, wall_offset, where)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_ALLOWANCE)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def worker_count(probe_workers: str | None, cpus: int) -> int:
    """The workers the daemon starts with this ``probe_workers`` setting (None: its default,
    auto) on ``cpus`` usable CPUs, as ``Config.probe_worker_count`` counts them."""
    return auto_probe_workers(cpus) if probe_workers in (None, "auto") else int(probe_workers)


def probes_on(probe_workers: str | None, cpus: int) -> str:
    """Where the daemon's probes run with this ``probe_workers`` setting on ``cpus`` usable
    CPUs (what "auto" counts): the label that tells runs with workers from runs without."""
    setting = "default auto" if probe_workers is None else probe_workers
    count = worker_count(probe_workers, cpus)
    if count == 0:
        on = f", on {cpus} CPU" if setting != "0" else ""
        return f"the probe thread (probe_workers: {setting}{on})"
    return f"{count} probe worker{'s' if count != 1 else ''} (probe_workers: {setting})"


async def wait_ready(session: aiohttp.ClientSession, base: str, spawned: float) -> float:
    """The perf_counter at which ``/readyz`` first answered 200."""
    while time.perf_counter() - spawned < STARTUP_ALLOWANCE:
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with session.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return time.perf_counter()
        await asyncio.sleep(0.05)  # another process: polling is all there is
    raise RuntimeError(f"outagewatch run did not become ready in {STARTUP_ALLOWANCE:g} s")


async def poll_healthz(
    session: aiohttp.ClientSession, base: str, found: list[tuple[float, float]]
) -> None:
    """``/healthz`` every HEALTHZ_EVERY seconds until cancelled: (perf_counter, seconds)."""
    while True:
        at = time.perf_counter()
        found.append((at, await timed_healthz(session, base)))
        await asyncio.sleep(HEALTHZ_EVERY)


async def timed_healthz(session: aiohttp.ClientSession, base: str) -> float:
    """Seconds until /healthz answered; an answer that never came counts as the timeout."""
    started = time.perf_counter()
    try:
        _, seconds = await timed_get(session, f"{base}/healthz", gzip_ok=False)
    except (TimeoutError, aiohttp.ClientError):
        return time.perf_counter() - started
    return seconds


async def timed_get(
    session: aiohttp.ClientSession, url: str, *, gzip_ok: bool
) -> tuple[bytes, float]:
    headers = {"Accept-Encoding": "gzip" if gzip_ok else "identity"}
    started = time.perf_counter()
    async with session.get(url, headers=headers) as response:
        body = await response.read()
    return body, time.perf_counter() - started


def read_probes(database: Path, wall_offset: float) -> list[DaemonProbe]:
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


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
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


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of the daemon and its probe workers (and their fork server), by pid."""
    return {p: read_cpu(p) for p in _descendants(pid)}


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the tree used between two readings (a process born between counts whole)."""
    return sum(after.values()) - sum(before.get(p, 0.0) for p in after)
