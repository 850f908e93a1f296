"""Degraded, below an outage, on the daemon as operators run it: a webmail answering in 2 s
with degraded_after 1s, degraded_for 4s and slow_after 3s is degraded and never an outage,
and /metrics, /api/v1/services and the status page say so; on-call is mailed once and told
in chat (never paged), and the platform's informational list because it opted in."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import sys
from email import message_from_bytes, policy
from pathlib import Path

import aiohttp
import pytest
import yaml

from outagewatch.sim import HttpServer, SmtpServer
from tests.daemon.test_daemon_e2e import Daemon, free_port, metric, wait_for_good_probe
from tests.notify.channels.receivers import ROUTING_KEY, SLACK_PATH, receivers

LABELS = 'platform="eu-de-1",protocol="http",service="webmail",vantage="test"'


async def wait_metric(session: aiohttp.ClientSession, url: str, name: str, value: float) -> None:
    async with asyncio.timeout(30):
        while await metric(session, url, f"{name}{{{LABELS}}}") != value:  # noqa: ASYNC110 - another process
            await asyncio.sleep(0.05)


def subjects(sink: SmtpServer) -> list[tuple[tuple[str, ...], str]]:
    found = []
    for received in sink.messages:
        mail = message_from_bytes(received.data, policy=policy.default)
        found.append((tuple(received.rcpt_tos), str(mail["Subject"])))
    return found


async def test_a_slow_webmail_is_degraded_and_never_an_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    db = tmp_path / "ow.db"
    monkeypatch.setenv("PD_ROUTING_KEY", ROUTING_KEY)  # the daemon inherits it
    async with (
        HttpServer() as web, SmtpServer() as sink, aiohttp.ClientSession() as session,
        receivers() as vendors,
    ):  # fmt: skip
        config = {
            "vantage": "test",
            "database": f"sqlite+aiosqlite:///{db}",
            "api": {"listen": f"127.0.0.1:{port}"},
            "smtp": {"host": "127.0.0.1", "port": sink.port, "tls": "none",
                     "from": "noc@example.net"},
            "oncall": {"email": "oncall@example.net", "channels": ["ops-chat", "pager"]},
            "channels": {
                "ops-chat": {"type": "slack", "url": vendors.url + SLACK_PATH},
                "pager": {"type": "pagerduty", "routing_key_env": "PD_ROUTING_KEY",
                          "url": f"{vendors.url}/v2/enqueue"},
            },
            "web": {"status_page": True, "public_url": f"http://127.0.0.1:{port}"},
            "rules": {"slow_after": "3s", "outage_after": "6s", "probe_interval": "500ms",
                      "probe_timeout": "4s", "degraded_after": "1s", "degraded_for": "4s"},
            "platforms": {
                "eu-de-1": {
                    "name": "OX Cloud EU de-1",
                    "announce_degraded": True,
                    "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                    "services": {"webmail": {"protocol": "http", "url": web.url}},
                }
            },
        }  # fmt: skip
        path = tmp_path / "ow.yaml"
        path.write_text(yaml.safe_dump(config))
        made = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "outagewatch", "token", "create", "--name", "v",
            "--role", "viewer", "-c", str(path), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(made.communicate(), 60)
        assert made.returncode == 0
        token = out.decode().split()[0]
        daemon = Daemon(path)
        await daemon.start()
        try:
            metrics = f"http://127.0.0.1:{port}/metrics"
            await wait_for_good_probe(session, metrics)
            await wait_metric(session, metrics, "outagewatch_service_degraded", 0)
            web.faults.greeting_delay = 2.0  # slower than degraded_after, faster than slow_after
            await wait_metric(session, metrics, "outagewatch_service_degraded", 1)
            assert await metric(session, metrics, f"outagewatch_service_outage{{{LABELS}}}") == 0
            auth = {"Authorization": f"Bearer {token}"}
            async with session.get(f"http://127.0.0.1:{port}/api/v1/services", headers=auth) as r:
                [item] = (await r.json())["items"]
            assert item["state"] == "degraded"
            async with session.get(f"http://127.0.0.1:{port}/status/eu-de-1") as r:
                page = await r.text()
            assert "Degraded performance" in page
            async with session.get(f"http://127.0.0.1:{port}/status/eu-de-1/feed.atom") as r:
                feed = await r.text()
            assert "[degraded] Degraded performance: Web-Mail" in feed
            async with asyncio.timeout(30):
                await sink.wait_for_messages(2)
            told = subjects(sink)
            assert (
                ("oncall@example.net",),
                "[on-call] [OX Cloud EU de-1] Web-Mail — degraded",
            ) in told
            assert (
                ("n@example.net",),
                "[OX Cloud EU de-1] Degraded performance: Web-Mail — degraded",
            ) in told
            async with asyncio.timeout(30):
                while not vendors.of("slack"):  # noqa: ASYNC110 - filled by the receiver
                    await asyncio.sleep(0.05)
            assert "Web-Mail — degraded" in json.dumps(
                vendors.of("slack")[0].body, ensure_ascii=False
            )
            # Degraded for longer than outage_after by now: still no outage (answers in 2 s).
            web.faults.greeting_delay = 0
            await wait_metric(session, metrics, "outagewatch_service_degraded", 0)
            async with asyncio.timeout(30):
                await sink.wait_for_messages(4)
            assert any(s.endswith("— no longer degraded") for _, s in subjects(sink))
            async with asyncio.timeout(30):
                while len(vendors.of("slack")) < 2:  # noqa: ASYNC110 - filled by the receiver
                    await asyncio.sleep(0.05)
            assert vendors.of("pagerduty") == [] and vendors.violations == []  # never paged
        finally:
            assert await daemon.stop(signal.SIGTERM) == 0
    with sqlite3.connect(db) as conn:
        levels = sorted({v for (v,) in conn.execute("SELECT vantage FROM transitions")})
    assert levels == ["*~degraded", "test~degraded"]  # never an outage
