"""The daemon as operators run it, probing 200 healthy webmail services while one server of
each hostile kind never stops talking (or drips): the healthy probes' times and the
daemon's CPU stay what they are in a quiet run.

One daemon, two kinds of window in turn: quiet (every server healthy) and hostile (the
hostile servers misbehave). A window is a number of probes of the healthy services, not a
span of time; its mean duration comes from the daemon's own histogram (_sum and _count at
its edges) and its CPU from /proc. Each kind is judged by its best window. On a loaded
2-core machine any window, quiet or hostile, may be ten times slower than the others (seen:
a quiet window of 39 ms among ones of 2-3 ms), while what the hostile servers cost is there
in every hostile window: the best of each kind compares the two without the noise. Without
the read budgets the hostile windows were 156 and 199 ms, at 2.4x the quiet CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml
from bench.daemon_process import cpu_between, tree_cpu

from outagewatch.sim import Faults, HttpServer, ImapServer, Pop3Server, SimServer, SmtpServer
from tests.daemon.test_daemon_e2e import Daemon, free_port, wait_ready

# Means and CPU of a daemon: measured alone, after the parallel run (see the Makefile).
pytestmark = pytest.mark.solo

HEALTHY = 200
HEALTHY_SERVERS = 4  # services per server: 50, as a real platform has many names per host
HOSTILE_MODES = ("endless_line", "endless_lines", "drip")
HOSTILE_SERVERS: dict[str, type[SimServer]] = {
    "http": HttpServer,
    "smtp": SmtpServer,
    "imap": ImapServer,
    "pop3": Pop3Server,
}
INTERVAL = 1.0
ROUNDS = 3  # probes of each healthy service in a window
PAIRS = 3  # quiet and hostile windows, alternating
USER, PASSWORD, PASSWORD_ENV = "probe@example.net", "pw-hostile-42", "OW_TEST_HOSTILE_PW"
# The figures, the goal: within 5 ms of the quiet mean, under 1.5x its CPU.
MEAN_SLACK, CPU_RATIO = 0.005, 1.5
HISTOGRAM = re.compile(
    r'^outagewatch_probe_duration_seconds_(sum|count)\{[^}]*service="(healthy-\d+)"[^}]*\} (\S+)$',
    re.MULTILINE,
)


@dataclass(frozen=True)
class Window:
    mean: float  # seconds, of the healthy services' probes in the window
    cpu: float  # seconds of the daemon's CPU (user + system), its probe workers included
    probes: int


def service(protocol: str, server: SimServer, *, login: bool = False) -> dict[str, object]:
    if protocol == "http":
        url = f"http://{server.address}/"
        entry: dict[str, object] = {"protocol": "http", "url": url, "expect_body": "OX App Suite"}
        if login:
            entry["login"] = {"url": f"{url}login", "expect_body": "Welcome"}
            entry["auth"] = {"username": USER, "password_env": PASSWORD_ENV}
        return entry
    host, port = server.address.rsplit(":", 1)
    return {"protocol": protocol, "host": host, "port": int(port)}


@contextlib.asynccontextmanager
async def servers() -> AsyncIterator[tuple[list[HttpServer], dict[str, SimServer]]]:
    async with contextlib.AsyncExitStack() as stack:
        healthy = [await stack.enter_async_context(HttpServer()) for _ in range(HEALTHY_SERVERS)]
        hostile: dict[str, SimServer] = {}
        for mode in HOSTILE_MODES:
            for protocol, kind in HOSTILE_SERVERS.items():
                server = kind(users={USER: PASSWORD}, faults=Faults(drip_interval=1.0))
                hostile[f"{protocol}-{mode}"] = await stack.enter_async_context(server)
        yield healthy, hostile


def write_config(
    folder: Path, port: int, healthy: list[HttpServer], hostile: dict[str, SimServer]
) -> Path:
    services = {
        f"healthy-{i:03d}": service("http", healthy[i % len(healthy)]) for i in range(HEALTHY)
    }
    for name, server in hostile.items():
        services[f"hostile-{name}".replace("_", "-")] = service(server.protocol, server)
        if server.protocol == "http":  # the login's reader (aiohttp) too
            services[f"hostile-{name}-login".replace("_", "-")] = service(
                "http", server, login=True
            )
    config = {
        "vantage": "test",
        "database": f"sqlite+aiosqlite:///{folder / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{port}"},
        "rules": {"probe_interval": "1s", "probe_timeout": "2s", "slow_after": "1s"},
        "platforms": {
            "eu-de-1": {
                "name": "OX Cloud EU de-1",
                "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                "services": services,
            }
        },
    }
    path = folder / "ow.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def histogram(session: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    """The healthy services' probe durations so far: their sum, and how many."""
    async with session.get(url) as response:
        text = await response.text()
    total, count = 0.0, 0
    for kind, _, value in HISTOGRAM.findall(text):
        if kind == "sum":
            total += float(value)
        else:
            count += int(value)
    return total, count


async def window(session: aiohttp.ClientSession, url: str, pid: int) -> Window:
    """From now until every healthy service has been probed ROUNDS times more (on average)."""
    total, count = await histogram(session, url)
    cpu = tree_cpu(pid)  # the probe workers' CPU is the daemon's
    async with asyncio.timeout(ROUNDS * INTERVAL * 10):
        while (now := await histogram(session, url))[1] < count + ROUNDS * HEALTHY:  # noqa: ASYNC110 - another process: polling is all there is
            await asyncio.sleep(0.2)
    spent = cpu_between(cpu, tree_cpu(pid))
    probes = now[1] - count
    return Window(mean=(now[0] - total) / probes, cpu=spent, probes=probes)


def set_hostile(hostile: dict[str, SimServer], on: bool) -> None:
    for name, server in hostile.items():
        server.faults.hostile = next(m for m in HOSTILE_MODES if name.endswith(m)) if on else None


async def test_hostile_servers_do_not_disturb_the_healthy_probes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    port = free_port()
    async with servers() as (healthy, hostile):
        daemon = Daemon(write_config(tmp_path, port, healthy, hostile))
        await daemon.start()
        assert daemon.proc is not None
        pid = daemon.proc.pid
        url = f"http://127.0.0.1:{port}/metrics"
        try:
            await wait_ready(port)
            async with aiohttp.ClientSession() as session:
                await window(session, url, pid)  # warm-up: every service probed, caches full
                runs: dict[bool, list[Window]] = {False: [], True: []}
                for on in (False, True) * PAIRS:
                    set_hostile(hostile, on)
                    runs[on].append(await window(session, url, pid))
                async with session.get(url) as response:
                    metrics = await response.text()
        finally:
            await daemon.stop()
    quiet, loud = runs[False], runs[True]
    seen = f"quiet windows {quiet}, hostile windows {loud}"
    assert min(w.mean for w in loud) < min(w.mean for w in quiet) + MEAN_SLACK, seen
    assert min(w.cpu for w in loud) < CPU_RATIO * min(w.cpu for w in quiet), seen
    # Each hostile service was probed, and failed as it should: over budget, or timed out.
    counted = {
        (line.split('service="')[1].split('"')[0], line.split('result="')[1].split('"')[0])
        for line in metrics.splitlines()
        if line.startswith("outagewatch_probes_total{")
    }
    for name in hostile:
        kind = "timeout" if name.endswith("drip") else "protocol"
        for service in (f"hostile-{name}", f"hostile-{name}-login")[: 2 if "http" in name else 1]:
            assert (service.replace("_", "-"), kind) in counted, (service, kind)
