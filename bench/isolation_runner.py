"""The deployed daemon in quiet and disturbed windows, in turn: does anything the daemon serves,
or anything a monitored server does, move the healthy probes' timing?

One `outagewatch run` (API and public status page on, SQLite, no scrapes) probes the healthy
targets and 1 % more on the simulators' hostile servers. After the warm-up it runs
``rounds`` rounds of three windows of ``window`` seconds each:

* quiet: the extra servers answer as healthy ones do, nobody asks for the status page;
* status: ``rate`` requests a second for the status page, its Atom feed and its calendar,
  open loop, from a process of their own (bench/status_traffic.py);
* hostile: the extra servers never stop talking, or drip (bench/sim_runner.py).

Alternating the kinds shows the host's drift (a quiet window as slow as a loaded one is the
host, not the load). Between windows, a gap of ``GAP`` seconds: the load starts and stops
in it, and the status page is asked once, so that a loaded window starts with the page
current (a change of state renders it again once, whoever asks). ``/healthz`` is asked every
``HEALTHZ_EVERY`` seconds throughout, as a liveness check would. The probes are read from the
daemon's SQLite file after the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench.children import die_with_parent
from bench.daemon_config import PLATFORM
from bench.daemon_process import (
    DaemonProbe,
    cpu_between,
    deployed,
    poll_healthz,
    read_probes,
    tree_cpu,
    wait_ready,
)
from bench.layout import TargetSpec

KINDS = ("quiet", "status", "hostile")
GAP = 3.0
REQUEST_TIMEOUT = 30.0
# The status page's representations, taken in turn: the page twice as often as each feed.
STATUS_PATHS = (
    f"/status/{PLATFORM}",
    f"/status/{PLATFORM}/feed.atom",
    f"/status/{PLATFORM}",
    f"/status/{PLATFORM}/maintenance.ics",
)
STATUS_CLIENTS = 10
REPORT_LIMIT = 1 << 24  # the visitors' one JSON line: some 70 bytes a request


@dataclass(frozen=True)
class Request:
    path: str
    due: float  # seconds after the window's start
    sent: float
    seconds: float  # to the last byte
    status: int  # 0: no answer


@dataclass
class Window:
    kind: str
    round: int
    start: float  # perf_counter
    end: float
    cpu: float = 0.0  # the daemon's process tree
    requests: list[Request] = field(default_factory=list)


@dataclass
class IsolationRun:
    probes_on: str
    windows: list[Window] = field(default_factory=list)
    healthz: list[tuple[float, float]] = field(default_factory=list)  # (at, seconds)
    probes: list[DaemonProbe] = field(default_factory=list)


@dataclass(frozen=True)
class Disturbances:
    """How the windows are disturbed: the simulators' control port, the load's CPU."""

    sim_control: int
    side_cpu: int | None
    rate: float


def run_isolation(
    targets: list[TargetSpec],
    *,
    interval: float,
    warmup: float,
    window: float,
    rounds: int,
    disturbances: Disturbances,
    workdir: Path,
    cpu: int | None,
    probe_workers: str | None = None,
) -> IsolationRun:
    with deployed(
        targets,
        interval=interval,
        workdir=workdir,
        cpu=cpu,
        probe_workers=probe_workers,
        status_page=True,
    ) as daemon:
        run = IsolationRun(daemon.probes_on)
        plan = _Windows(daemon.pid, daemon.base, warmup, window, rounds, disturbances)
        asyncio.run(plan.drive(run, daemon.spawned))
    run.probes = read_probes(workdir / "outagewatch.db", daemon.wall_offset)
    return run


@dataclass
class _Windows:
    pid: int
    base: str
    warmup: float
    window: float
    rounds: int
    disturbances: Disturbances

    async def drive(self, run: IsolationRun, spawned: float) -> None:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            # The hostile servers behave until a hostile window; as the other stages expect
            # them, they misbehave again after the run.
            await self._hostile(session, on=False)
            poll = None
            try:
                await wait_ready(session, self.base, spawned)
                poll = asyncio.create_task(poll_healthz(session, self.base, run.healthz))
                await asyncio.sleep(self.warmup)
                for number in range(1, self.rounds + 1):
                    for kind in KINDS:
                        run.windows.append(await self._window(session, kind, number))
                        await asyncio.sleep(GAP)
            finally:
                if poll is not None:
                    poll.cancel()
                    await asyncio.gather(poll, return_exceptions=True)
                await self._hostile(session, on=True)

    async def _window(self, session: aiohttp.ClientSession, kind: str, number: int) -> Window:
        load = None
        if kind == "status":
            for path in sorted(set(STATUS_PATHS)):  # the page current before the window
                async with session.get(self.base + path) as response:
                    await response.read()
            load = await _Load.start(self.base, self.window, self.disturbances)
        try:
            start = time.perf_counter()
            if load is not None:
                await load.go(start)
            if kind == "hostile":
                await self._hostile(session, on=True)
            before = tree_cpu(self.pid)
            await asyncio.sleep(max(0.0, start + self.window - time.perf_counter()))
            window = Window(kind, number, start, time.perf_counter())
            window.cpu = cpu_between(before, tree_cpu(self.pid))
            if kind == "hostile":
                await self._hostile(session, on=False)
            if load is not None:
                window.requests = await load.finish()
        finally:
            if load is not None:
                await load.stop()
        return window

    async def _hostile(self, session: aiohttp.ClientSession, *, on: bool) -> None:
        url = f"http://127.0.0.1:{self.disturbances.sim_control}/hostile/{'on' if on else 'off'}"
        async with session.post(url) as response:
            response.raise_for_status()


class _Load:
    """One window of status page visitors (bench/status_traffic.py) in their own process."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, base: str, window: float, disturbances: Disturbances) -> _Load:
        command = [
            sys.executable, "-m", "bench.status_traffic", "--base", base,
            "--paths", ",".join(STATUS_PATHS), "--rate", str(disturbances.rate),
            "--duration", str(window), "--clients", str(STATUS_CLIENTS),
        ]  # fmt: skip
        if disturbances.side_cpu is not None:
            command += ["--cpu", str(disturbances.side_cpu)]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=REPORT_LIMIT,
            preexec_fn=die_with_parent,
        )
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        if line.strip() != b"ready":
            process.kill()
            await process.wait()
            raise RuntimeError("the status page's visitors (bench.status_traffic) did not start")
        return cls(process)

    async def go(self, start: float) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{start!r}\n".encode())
        await self.process.stdin.drain()

    async def finish(self) -> list[Request]:
        """The requests of the window, once the last has been answered (or timed out)."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), REQUEST_TIMEOUT + 30)
        return [
            Request(STATUS_PATHS[index], due, sent, seconds, status)
            for index, due, sent, seconds, status in json.loads(line)["sent"]
        ]

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), timeout=5)
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
