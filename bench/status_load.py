"""The public faces at 10,000 services, with the real daemon (``outagewatch run``, SQLite) in
its own process probing a loopback HTTP simulator that answers after 20 ms.

Two estates: 2,500 platforms of 4 services, and one platform of 2,000. For each: the status
page of a platform (the first request renders it, the next ones come from the cache), the
overview ``/status``, ``/api/v1/services?limit=1000``, and ``/healthz`` while 50 anonymous
status requests a second come from ten loopback addresses; and the probes' timing: the
median and p99 of the probes' measured durations while nobody asks (quiet) and during
that load (the simulator's 20 ms are in both; durations are stored in whole ms).
Goals: overview < 200 ms, a platform's page < 50 ms, the API page < 100 ms, /healthz p99
< 20 ms under the load, probes within 2 ms of quiet.

``python -m bench.status_load [auto|N]`` runs it alone (about 6 minutes; the argument is the
daemon's ``probe_workers``); ``python -m bench`` adds it, with its ``--probe-workers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.children import die_with_parent, unwind_on_sigterm
from bench.daemon_process import free_port, probes_on
from outagewatch.config.model import usable_cpus

LISTS = {"incident": ["i@bench.invalid"], "informational": ["n@bench.invalid"]}
INTERVAL = 30.0  # each service probed every 30 s: 333 probes a second at 10,000
LATENCY = "20ms"
RATE = 50  # anonymous status requests per second during the load
WINDOW = 30.0  # seconds of quiet, and of load
CLIENTS = 10


@dataclass
class Figures:
    estate: str
    rows: dict[str, str] = field(default_factory=dict)


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (n={len(values)})"


def _config(
    folder: Path, port: int, sim: int, platforms: int, per: int, workers: str | None
) -> Path:
    url = f"http://127.0.0.1:{sim}/"
    services = {f"s{n:04d}": {"protocol": "http", "url": url} for n in range(per)}
    config: dict[str, Any] = {
        "vantage": "bench",
        "database": f"sqlite+aiosqlite:///{folder / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{port}"},
        "web": {"status_page": True, "public_url": "https://status.example.net"},
        "rules": {"probe_interval": f"{int(INTERVAL)}s"},
        "platforms": {
            f"p{i:04d}": {"name": f"Platform {i}", "lists": LISTS, "services": services}
            for i in range(platforms)
        },
    }
    if workers is not None:
        config["probe_workers"] = "auto" if workers == "auto" else int(workers)
    path = folder / "ow.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def _timed(session: aiohttp.ClientSession, url: str, **kw: Any) -> tuple[float, int]:
    began = time.perf_counter()
    try:
        async with session.get(url, **kw) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0
    return time.perf_counter() - began, status


async def _ready(session: aiohttp.ClientSession, base: str, within: float) -> None:
    async with asyncio.timeout(within):
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with session.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.5)


class Visitors:
    """Sequential requests, each from the next of 200 loopback addresses: one visitor's
    requests stay under the public pages' rate limit per client, as real visitors do."""

    def __init__(self) -> None:
        self.sessions = [
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(local_addr=(f"127.0.1.{n}", 0)),
                timeout=aiohttp.ClientTimeout(total=120),
            )
            for n in range(1, 201)
        ]
        self.turn = 0
        self.refused = 0

    async def get(self, url: str, **kw: Any) -> float:
        self.turn += 1
        took, status = await _timed(self.sessions[self.turn % len(self.sessions)], url, **kw)
        self.refused += status != 200
        return took

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()


async def _healthz_during(session: aiohttp.ClientSession, base: str, seconds: float) -> list[float]:
    found = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        took, _ = await _timed(session, f"{base}/healthz")
        found.append(took)
        await asyncio.sleep(0.1)
    return found


async def _crowd(base: str, pages: list[str], seconds: float) -> list[int]:
    """RATE requests a second, spread over CLIENTS loopback addresses, for ``seconds``."""
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(f"127.0.0.{c}", 0)),
            timeout=aiohttp.ClientTimeout(total=30),
        )
        for c in range(2, 2 + CLIENTS)
    ]
    tasks = []
    began = time.monotonic()
    n = 0
    while time.monotonic() - began < seconds:
        session = sessions[n % CLIENTS]
        page = random.choice(pages)  # noqa: S311
        tasks.append(asyncio.create_task(_timed(session, base + page)))
        n += 1
        await asyncio.sleep(max(0.0, began + n / RATE - time.monotonic()))
    statuses = [status for _, status in await asyncio.gather(*tasks)]
    for session in sessions:
        await session.close()
    return statuses


def _probe_durations(db: Path, window: tuple[float, float]) -> list[float]:
    lo, hi = (int(w * 1000) for w in window)
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT duration FROM samples WHERE started_at BETWEEN ? AND ?", (lo, hi)
        ).fetchall()
    return [d / 1000 for (d,) in rows]


def _token(config: Path) -> str:
    made = subprocess.run(  # noqa: S603 - our own package, our own config
        [sys.executable, "-m", "outagewatch", "token", "create", "-c", str(config),
         "--name", "bench", "--role", "viewer"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return made.stdout.strip()


def _spawn(folder: Path, config: Path, sim_port: int) -> tuple[subprocess.Popen[bytes], ...]:
    """The simulator, then the daemon (its log in the folder)."""
    sim = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "outagewatch.sim", "--http", str(sim_port),
         "--greeting-delay", LATENCY],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent,
    )  # fmt: skip
    with (folder / "daemon.log").open("w") as log:
        daemon = subprocess.Popen(  # noqa: S603 - our own package, our own config
            [sys.executable, "-m", "outagewatch", "run", "-c", str(config)],
            stdout=subprocess.DEVNULL, stderr=log, preexec_fn=die_with_parent,
        )  # fmt: skip
    return sim, daemon


async def _pages(
    figures: Figures, visitors: Visitors, base: str, small: list[str], overview: bool, token: str
) -> None:
    cold = [await visitors.get(base + p) for p in small]
    figures.rows["platform page, first request (rendered)"] = _ms(cold)
    warm = [await visitors.get(base + p) for p in small for _ in range(4)]
    figures.rows["platform page, from the cache"] = _ms(warm)
    async with visitors.sessions[0].get(base + small[0]) as response:
        size = len(await response.read())
    figures.rows["platform page, size"] = f"{size / 1024:.0f} KB"
    if overview:
        over = [await visitors.get(base + "/status") for _ in range(21)]
        figures.rows["overview /status, first request"] = _ms(over[:1])
        figures.rows["overview /status, from the cache"] = _ms(over[1:])
    auth = {"Authorization": f"Bearer {token}"}
    api = [await visitors.get(base + "/api/v1/services?limit=1000", headers=auth)
           for _ in range(10)]  # fmt: skip
    figures.rows["/api/v1/services?limit=1000"] = _ms(api)
    figures.rows["requests above not answered 200"] = str(visitors.refused)


async def _measure(
    folder: Path, name: str, platforms: int, per: int, say: Any, workers: str | None
) -> Figures:
    figures = Figures(name)
    port, sim_port = free_port(), free_port()
    config = _config(folder, port, sim_port, platforms, per, workers)
    token = _token(config)
    sim, daemon = _spawn(folder, config, sim_port)
    base = f"http://127.0.0.1:{port}"
    chosen = random.sample(range(platforms), min(50, platforms))
    small = [f"/status/p{i:04d}" for i in chosen]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            await _ready(session, base, 300)
            say(f"{name}: ready; every service probed once ...")
            await asyncio.sleep(INTERVAL + 5)
            quiet_from = time.time()
            figures.rows["/healthz, quiet"] = _ms(await _healthz_during(session, base, WINDOW))
            quiet = (quiet_from, time.time())
            visitors = Visitors()
            try:
                await _pages(figures, visitors, base, small, platforms > 1, token)
            finally:
                await visitors.close()
            say(f"{name}: {RATE} anonymous status requests a second for {WINDOW:.0f} s ...")
            pages = [*small, "/status"] if platforms > 1 else small
            load_from = time.time()
            crowd = asyncio.create_task(_crowd(base, pages, WINDOW))
            healthz = await _healthz_during(session, base, WINDOW)
            statuses = await crowd
            load = (load_from, time.time())
            figures.rows[f"/healthz, under {RATE} status requests/s"] = _ms(healthz)
            answered = {s: statuses.count(s) for s in sorted(set(statuses))}
            figures.rows["status requests answered (by HTTP status)"] = str(answered)
        daemon.send_signal(signal.SIGTERM)
        began = time.monotonic()
        while daemon.poll() is None and time.monotonic() - began < 60:  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.05)
        figures.rows["SIGTERM to exit"] = f"{time.monotonic() - began:.1f} s"
        db = folder / "ow.db"
        calm, busy = _probe_durations(db, quiet), _probe_durations(db, load)
        figures.rows["probe durations, quiet (20 ms injected)"] = _ms(calm)
        figures.rows["probe durations, under the load"] = _ms(busy)
    finally:
        for process in (daemon, sim):
            if process.poll() is None:
                process.kill()
                process.wait()
    return figures


def render(results: list[Figures], workers: str | None = None) -> str:
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    # The daemon is not pinned: its auto counts the CPUs this process may use.
    where = probes_on(workers, usable_cpus())
    lines = [
        "## Status page, console and API at 10,000 services",
        "",
        f"`python -m bench.status_load`; probes on {where}; load average at the end "
        f"{load}; {os.cpu_count()} CPUs (shared).",
    ]
    for figures in results:
        lines += ["", f"### {figures.estate}", "", "| measure | figure |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in figures.rows.items()]
    return "\n".join(lines)


def report(say: Any = print, workers: str | None = None) -> str:
    """The faces' figures; ``workers`` is the daemon's ``probe_workers`` (None: its default)."""

    async def both() -> list[Figures]:
        found = []
        for name, platforms, per in (
            ("10,000 services in 2,500 platforms of 4", 2500, 4),
            ("one platform of 2,000 services", 1, 2000),
        ):
            with tempfile.TemporaryDirectory(prefix="outagewatch-bench-faces-") as tmp:
                found.append(await _measure(Path(tmp), name, platforms, per, say, workers))
        return found

    return render(asyncio.run(both()), workers)


if __name__ == "__main__":
    # python -m bench.status_load [PROBE_WORKERS]: "auto", a count, or the daemon's default.
    chosen = sys.argv[1] if len(sys.argv) > 1 else None
    unwind_on_sigterm()
    print(report(lambda text: print(text, file=sys.stderr), chosen))
