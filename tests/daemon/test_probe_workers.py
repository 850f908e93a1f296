"""The probes in worker processes: real probes of a real sim server, results counted per
service against the schedule through a worker's SIGKILL and a reload."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from outagewatch.config import ConfigError, HttpService, Rules
from outagewatch.config.load import parse_config
from outagewatch.config.model import auto_probe_workers, usable_cpus
from outagewatch.config.targets import Target
from outagewatch.daemon.probe_workers import ProbeWorkers, share_of, shares
from outagewatch.probes import ProbeResult
from outagewatch.sim import HttpServer
from tests.daemon.test_daemon_e2e import wait_for_gauge, wait_for_good_probe, webmail_daemon

INTERVAL = 0.4
RULES = Rules(
    slow_after=timedelta(seconds=5),
    probe_interval=timedelta(seconds=INTERVAL),
    probe_timeout=timedelta(seconds=2),
)
Key = tuple[str, str]


def targets(url: str, names: list[str]) -> list[Target]:
    return [
        Target("eu-de-1", n, HttpService(protocol="http", url=f"{url}?{n}"), RULES) for n in names
    ]


@dataclass
class Run:
    """The workers, and the start of every result the daemon's side took, per service."""

    workers: ProbeWorkers
    arrived: asyncio.Event
    starts: dict[Key, list[float]] = field(default_factory=lambda: defaultdict(list))
    restarted: list[int] = field(default_factory=list)
    restart: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self, target: Target, result: ProbeResult) -> None:
        assert result.ok, result.detail
        self.starts[target.key].append(result.started_at.timestamp())

    async def until(self, done: Callable[[], bool], within: float = 30) -> None:
        """Drain as results arrive (each wakes us: batch=1) until ``done``."""
        async with asyncio.timeout(within):
            while True:
                self.arrived.clear()  # before the drain: a result after it wakes us
                self.workers.drain()
                if done():
                    return
                await self.arrived.wait()

    def since(self, key: Key, moment: float) -> int:
        return sum(1 for s in self.starts[key] if s > moment)


@asynccontextmanager
async def running(start: list[Target], count: int = 2) -> AsyncIterator[Run]:
    loop = asyncio.get_running_loop()
    arrived = asyncio.Event()

    def restarted(index: int) -> None:  # on a reader thread
        loop.call_soon_threadsafe(run.restarted.append, index)
        loop.call_soon_threadsafe(run.restart.set)

    workers = ProbeWorkers(start, lambda t, r: run.take(t, r), count, on_batch=arrived.set,
                           on_restart=restarted, batch=1)  # fmt: skip
    run = Run(workers, arrived)
    await workers.start()
    try:
        yield run
    finally:
        await workers.stop()


def gaps(starts: list[float]) -> list[tuple[float, float]]:
    ordered = sorted(starts)
    return list(itertools.pairwise(ordered))


def on_the_grid(starts: list[float]) -> bool:
    """One result per interval: none missing (a gap of two), none doubled (a gap near 0)."""
    return all(0.5 * INTERVAL < b - a < 1.5 * INTERVAL for a, b in gaps(starts))


def test_the_split_is_stable_and_covers_every_service() -> None:
    names = [f"s{i}" for i in range(40)]
    split = shares(targets("http://127.0.0.1:1/", names), 3)
    assert sorted(t.service_id for share in split for t in share) == sorted(names)
    assert all(split), "40 services leave no worker without a share"
    # A service's worker follows from its key alone, whatever else the config holds.
    fewer = shares(targets("http://127.0.0.1:1/", names[::2]), 3)
    assert all(share_of(t.key, 3) == i for i, share in enumerate(fewer) for t in share)
    assert {t.key for t in fewer[0]} <= {t.key for t in split[0]}


@pytest.mark.parametrize(
    ("value", "count"), [("auto", len(os.sched_getaffinity(0))), (0, 0), (3, 3)]
)
def test_probe_workers_in_the_config(value: object, count: int) -> None:
    config = parse_config(config_with(value))
    assert config.probe_worker_count == count


def test_one_worker_per_usable_cpu_by_default() -> None:
    config = config_with(None)
    del config["probe_workers"]
    parsed = parse_config(config)
    assert parsed.probe_workers == "auto"
    assert parsed.probe_worker_count == auto_probe_workers(usable_cpus())


@pytest.mark.parametrize(("cpus", "workers"), [(1, 0), (2, 2), (8, 8)])
def test_auto_is_one_worker_per_cpu_and_the_thread_on_one(cpus: int, workers: int) -> None:
    assert auto_probe_workers(cpus) == workers


def test_zero_keeps_the_probe_thread() -> None:
    assert parse_config(config_with(0)).probe_worker_count == 0


@pytest.mark.parametrize("value", ["3", -1, 65, True, 1.5, "many", None, "AUTO"])
def test_probe_workers_must_be_auto_or_a_count(value: object) -> None:
    with pytest.raises(ConfigError, match="probe_workers: must be auto or a whole number"):
        parse_config(config_with(value))


@pytest.mark.parametrize(
    ("cpu_max", "count"), [("150000 100000", 2), ("50000 100000", 1), ("max 100000", None)]
)
def test_auto_follows_a_containers_cpu_quota(
    tmp_path: Path, cpu_max: str, count: int | None
) -> None:
    cgroup = tmp_path / "cpu.max"
    cgroup.write_text(f"{cpu_max}\n")
    cpus = len(os.sched_getaffinity(0))
    assert usable_cpus(cgroup) == min(cpus, count or cpus)
    assert usable_cpus(tmp_path / "absent") == cpus


def config_with(value: object) -> dict[str, object]:
    service = {"protocol": "http", "url": "http://127.0.0.1:1/"}
    lists = {"incident": ["i@example.net"], "informational": ["n@example.net"]}
    platform = {"name": "P", "lists": lists, "services": {"webmail": service}}
    return {"probe_workers": value, "platforms": {"eu-de-1": platform}}


@pytest.mark.solo  # probe starts on a grid of INTERVAL: timed alone
async def test_a_killed_worker_is_restarted_and_no_result_is_lost_or_doubled() -> None:
    names = [f"s{i}" for i in range(8)]
    async with HttpServer() as web, running(targets(web.url, names)) as run:
        keys = [("eu-de-1", n) for n in names]
        await run.until(lambda: all(len(run.starts[k]) >= 3 for k in keys))
        victim = run.workers.pids[0]
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        killed = time.time()
        await asyncio.wait_for(run.restart.wait(), timeout=10)
        restarted = time.time()
        await run.until(lambda: all(run.since(k, restarted) >= 3 for k in keys))
        pids = run.workers.pids
    assert run.restarted == [0]
    assert pids[0] not in (None, victim) and pids[1] != victim
    for key in keys:
        starts = run.starts[key]
        if share_of(key, 2) == 1:  # the other worker never paused
            assert on_the_grid(starts), (key, gaps(starts))
            continue
        before = [s for s in starts if s <= killed]
        after = [s for s in starts if s > killed]
        # Each side of the restart on its grid; between them only the probes of the time
        # the worker was away (and one in flight at the kill).
        assert on_the_grid(before) and on_the_grid(after), (key, gaps(starts))
        assert after[0] - before[-1] < restarted - killed + 2.5 * INTERVAL, (key, killed)


@pytest.mark.solo  # probe starts on a grid of INTERVAL: timed alone
async def test_a_reload_hands_each_worker_its_new_share() -> None:
    async with HttpServer() as web, running(targets(web.url, ["a", "b", "c", "d"])) as run:
        key = {n: ("eu-de-1", n) for n in "abcdef"}
        await run.until(lambda: all(len(run.starts[key[n]]) >= 2 for n in "abcd"))
        run.workers.retarget(targets(web.url, ["a", "b", "e", "f"]))
        reloaded = time.time()
        await run.until(lambda: all(run.since(key[n], reloaded) >= 3 for n in "abef"))
        dropped_last = max(s for n in "cd" for s in run.starts[key[n]])
    # The kept services keep their pace; the new ones start within one interval; the
    # removed ones stop (a probe that started before the worker heard of it may report).
    for n in "ab":
        assert on_the_grid(run.starts[key[n]]), (n, gaps(run.starts[key[n]]))
    for n in "ef":
        assert min(run.starts[key[n]]) < reloaded + INTERVAL + 0.2
        assert on_the_grid(run.starts[key[n]])
    assert dropped_last < reloaded + 0.2
    assert {share_of(key[n], 2) for n in "abcdef"} == {0, 1}, "both workers had a share"


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def probe_workers_of(daemon: int) -> set[int]:
    """The daemon's workers: the children of its fork server (a child of the daemon)."""
    servers = [
        c for c in children(daemon) if b"forkserver" in Path(f"/proc/{c}/cmdline").read_bytes()
    ]
    return {w for server in servers for w in children(server)}


def gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # exited; its parent (init, once the daemon is gone) reaps it


async def test_the_daemon_with_two_workers_declares_an_outage_through_a_worker_restart(
    tmp_path: Path,
) -> None:
    rules = {"slow_after": "1s", "outage_after": "3s", "probe_interval": "500ms",
             "probe_timeout": "1s"}  # fmt: skip
    restarts = 'outagewatch_probe_worker_restarts_total{worker="'
    async with (
        webmail_daemon(tmp_path, rules, probe_workers=2) as (web, daemon, url, _),
        aiohttp.ClientSession() as session,
    ):
        await wait_for_good_probe(session, url)
        assert daemon.proc is not None
        workers = probe_workers_of(daemon.proc.pid)
        assert len(workers) == 2
        for pid in workers:  # the one with the service among them
            os.kill(pid, signal.SIGKILL)
        async with asyncio.timeout(20):
            while sum(await metric_values(session, url, restarts)) != 2:  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.05)
        web.faults.hang = True
        await wait_for_gauge(session, url, 1.0, within=30)
        web.faults.hang = False
        await wait_for_gauge(session, url, 0.0, within=30)
        running = probe_workers_of(daemon.proc.pid)
        assert len(running) == 2 and not running & workers
        assert await daemon.stop() == 0  # SIGTERM
        assert all(gone(pid) for pid in running)
        assert daemon.log.count("died (exit code -9); starting it again") == 2
        assert "2 probe workers" in daemon.log


async def metric_values(session: aiohttp.ClientSession, url: str, prefix: str) -> list[float]:
    async with session.get(url) as response:
        text = await response.text()
    return [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)]
