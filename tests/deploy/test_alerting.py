"""The whole alerting path, with Debian's real Prometheus and Alertmanager on loopback.

The daemon (compressed timings) probes two sim/ web servers; Prometheus scrapes it every
second and evaluates the shipped deploy/prometheus/rules.yml, unchanged (ServiceOutage has no
``for:``, so nothing needs shortening); Alertmanager routes to a webhook receiver, a real
aiohttp server in this test. One server fails: ServiceOutage fires for that service only, and
reaches the receiver; no rule reports an evaluation error; the server recovers: the receiver
gets the resolution. Every wait is for an event (a webhook call; Prometheus's answers, polled,
since it is another process), with a timeout."""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

import outagewatch
from outagewatch.sim import HttpServer, SmtpServer
from tests.conftest import missing_real
from tests.daemon.test_daemon_e2e import Daemon, free_port, wait_ready
from tests.deploy.conftest import PROMETHEUS

PATIENCE = 90.0  # a loaded 2-core machine: a timeout, never a speed target
FAILING, HEALTHY = "webmail", "webmail-b"


def binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    missing_real(f"{names[0]} is not installed (Debian: apt-get install prometheus "
                 "prometheus-alertmanager)")  # fmt: skip
    raise AssertionError("unreachable")


class Receiver:
    """Alertmanager's webhook receiver: every notification, in order of arrival."""

    def __init__(self) -> None:
        self.notifications: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.port = free_port()

    async def handle(self, request: web.Request) -> web.Response:
        await self.notifications.put(await request.json())
        return web.Response(text="ok")

    async def next_about(self, alertname: str, status: str) -> dict[str, Any]:
        async with asyncio.timeout(PATIENCE):
            while True:
                body = await self.notifications.get()
                if body["groupLabels"].get("alertname") == alertname and body["status"] == status:
                    return body


async def start_process(stack: AsyncExitStack, *argv: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )

    async def stop() -> None:
        if proc.returncode is None:
            proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), timeout=20)
        print(f"--- {Path(argv[0]).name}\n{err.decode()[-4000:]}", file=sys.stderr)

    stack.push_async_callback(stop)
    return proc


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    """One answer of Prometheus's API, or None while it is not up yet."""
    try:
        async with session.get(url) as response:
            if response.status == 200:
                return (await response.json())["data"]
    except (aiohttp.ClientError, TimeoutError):
        pass
    return None


async def until(session: aiohttp.ClientSession, url: str, done: Any) -> Any:
    """Polls a Prometheus API URL until ``done(data)`` holds (another process: we poll)."""
    async with asyncio.timeout(PATIENCE):
        while True:
            data = await get_json(session, url)
            if data is not None and done(data):
                return data
            await asyncio.sleep(0.2)


@dataclass
class Stack:
    web: HttpServer
    receiver: Receiver
    prometheus: str  # its base URL


def daemon_config(tmp: Path, port: int, web: HttpServer, ok: HttpServer, relay: SmtpServer) -> Path:
    config = {
        "vantage": "test",
        "database": f"sqlite+aiosqlite:///{tmp / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{port}"},
        "smtp": {"host": relay.host, "port": relay.port, "tls": "none",
                 "from": "OX Cloud Operations <noc@example.net>"},
        "oncall": {"email": "oncall@example.net"},
        "rules": {"slow_after": "1s", "outage_after": "2s", "probe_interval": "250ms",
                  "probe_timeout": "2s", "max_gap": "30s"},
        "platforms": {"eu-de-1": {
            "name": "OX Cloud EU de-1",
            "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
            "services": {FAILING: {"protocol": "http", "url": web.url},
                         HEALTHY: {"protocol": "http", "url": ok.url}},
        }},
    }  # fmt: skip
    path = tmp / "ow.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def prometheus_config(tmp: Path, daemon: int, alertmanager: int) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROMETHEUS / "rules.yml")],  # the shipped file, unchanged
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [f"127.0.0.1:{alertmanager}"]}]}]},
        "scrape_configs": [{"job_name": "outagewatch", "scrape_interval": "1s",
                            "scrape_timeout": "1s",
                            "static_configs": [{"targets": [f"127.0.0.1:{daemon}"]}]}],
    }  # fmt: skip
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def alertmanager_config(tmp: Path, receiver: Receiver) -> Path:
    config = {
        "route": {"receiver": "hook", "group_by": ["alertname", "platform", "service"],
                  "group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"},
        "receivers": [{"name": "hook", "webhook_configs": [
            {"url": f"http://127.0.0.1:{receiver.port}/", "send_resolved": True}]}],
    }  # fmt: skip
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    prometheus = binary("prometheus")
    alertmanager = binary("prometheus-alertmanager", "alertmanager")
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    daemon_port, prom_port, am_port = free_port(), free_port(), free_port()
    async with AsyncExitStack() as stack, HttpServer() as failing, HttpServer() as healthy:
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, "127.0.0.1", receiver.port).start()
        relay = await stack.enter_async_context(SmtpServer())
        daemon = Daemon(daemon_config(tmp_path, daemon_port, failing, healthy, relay))
        await daemon.start()
        stack.push_async_callback(daemon.stop)
        await start_process(
            stack, alertmanager,
            f"--config.file={alertmanager_config(tmp_path, receiver)}",
            f"--storage.path={tmp_path / 'am'}",
            f"--web.listen-address=127.0.0.1:{am_port}",
            "--cluster.listen-address=",  # no gossip port on every interface
        )  # fmt: skip
        await start_process(
            stack, prometheus,
            f"--config.file={prometheus_config(tmp_path, daemon_port, am_port)}",
            f"--storage.tsdb.path={tmp_path / 'prom'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
            # A firing alert is sent again every second, not every minute, and a resolution
            # at once: what the test waits for is seconds away.
            "--rules.alert.resend-delay=1s",
        )  # fmt: skip
        await wait_ready(daemon_port)
        yield Stack(failing, receiver, f"http://127.0.0.1:{prom_port}")


def all_evaluated(groups: dict[str, Any]) -> bool:
    rules = [rule for group in groups["groups"] for rule in group["rules"]]
    return bool(rules) and all(not rule["lastEvaluation"].startswith("0001") for rule in rules)


@pytest.mark.timeout(300)
async def test_an_outage_fires_service_outage_through_alertmanager_and_resolves(
    stack: Stack,
) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        api = f"{stack.prometheus}/api/v1"
        # The daemon is up and scraped, and says which build it is.
        builds = await until(session, f"{api}/query?query=outagewatch_build_info",
                             lambda data: data["result"])  # fmt: skip
        assert [b["metric"]["version"] for b in builds["result"]] == [outagewatch.__version__]

        stack.web.faults.bad_banner = True  # 503 from now on: an outage after outage_after
        fired = await stack.receiver.next_about("ServiceOutage", "firing")
        assert {a["labels"]["service"] for a in fired["alerts"]} == {FAILING}
        (alert,) = fired["alerts"]
        assert (
            alert["labels"]["platform"] == "eu-de-1" and alert["labels"]["severity"] == "critical"
        )
        assert alert["annotations"]["summary"] == f"Outage: eu-de-1/{FAILING} (customer informed)"
        # Prometheus agrees: ServiceOutage for that service only.
        alerts = await get_json(session, f"{api}/alerts")
        outages = [a for a in alerts["alerts"] if a["labels"]["alertname"] == "ServiceOutage"]
        assert [a["labels"]["service"] for a in outages] == [FAILING]

        # Every rule of rules.yml has been evaluated, none with an error.
        groups = await until(session, f"{api}/rules", all_evaluated)
        rules = [rule for group in groups["groups"] for rule in group["rules"]]
        assert len(rules) == sum(len(g["rules"]) for g in yaml.safe_load(
            (PROMETHEUS / "rules.yml").read_text())["groups"])  # fmt: skip
        unhealthy = {rule["name"]: rule.get("lastError") for rule in rules
                     if rule["health"] != "ok"}  # fmt: skip
        assert not unhealthy

        stack.web.faults.bad_banner = False  # restored after restore_after good samples
        resolved = await stack.receiver.next_about("ServiceOutage", "resolved")
        assert {a["labels"]["service"] for a in resolved["alerts"]} == {FAILING}
        assert all(a["status"] == "resolved" for a in resolved["alerts"])
