"""SIGTERM stops the daemon within 10 s (systemd's and Kubernetes' stop timeouts expect it)
whatever is in flight: many anonymous status requests from several clients, a large
platform's page being rendered, and connections trickling their headers."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from .test_daemon_e2e import Daemon, free_port, wait_ready

# The stop is timed: alone, after the parallel run (see the Makefile).
pytestmark = pytest.mark.solo

LISTS = {"incident": ["i@example.net"], "informational": ["n@example.net"]}


def estate(tmp_path: Path, port: int) -> Path:
    refused = {"protocol": "imap", "host": "127.0.0.1", "port": 9}  # answers at once: refused
    platforms = {
        f"p{i:03d}": {"name": f"Platform {i}", "lists": LISTS,
                      "services": {n: refused for n in ("imap", "smtp", "pop3", "webmail")}}
        for i in range(300)
    }  # fmt: skip
    platforms["big"] = {
        "name": "Big", "lists": LISTS,
        "services": {f"s{n:04d}": {**refused, "label": f"Mailbox {n}"} for n in range(2000)},
    }  # fmt: skip
    config = {
        "vantage": "test",
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{port}"},
        "web": {"status_page": True, "public_url": "https://status.example.net"},
        "rules": {"probe_interval": "30s"},
        "platforms": platforms,
    }
    path = tmp_path / "ow.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def _one(session: aiohttp.ClientSession, url: str) -> int | str:
    try:
        async with session.get(url) as response:
            await response.read()
            return response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        return type(exc).__name__  # the daemon stopped under it: what we expect


async def _first_page(crowd: list[asyncio.Task[int | str]]) -> None:
    """Returns once one request of the crowd has been answered with a page (200): on a busy
    host the first answers may be the in-flight cap's 503s, before any page is rendered."""
    waiting = set(crowd)
    while waiting:
        done, waiting = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if any(task.result() == 200 for task in done):
            return
    raise AssertionError("no request of the crowd was answered with a page")


async def test_sigterm_stops_within_10_s_with_status_requests_in_flight(tmp_path: Path) -> None:
    port = free_port()
    daemon = Daemon(estate(tmp_path, port))
    await daemon.start()
    trickling: list[asyncio.StreamWriter] = []
    try:
        await wait_ready(port, within=120)
        base = f"http://127.0.0.1:{port}"
        for _ in range(20):  # a request head that never ends
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /status HTTP/1.1\r\nHost: x\r\n")
            trickling.append(writer)
        paths = ["/status/big", "/status", *(f"/status/p{i:03d}" for i in range(30))]
        sessions = [  # eight clients, each from its own loopback address
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(local_addr=(f"127.0.0.{c}", 0), limit=0),
                timeout=aiohttp.ClientTimeout(total=30),
            )
            for c in range(2, 10)
        ]
        crowd = [asyncio.create_task(_one(s, base + p)) for s in sessions for p in paths]
        await asyncio.wait_for(_first_page(crowd), 60)  # pages are served ...
        assert not all(task.done() for task in crowd)  # ... and more are in flight
        sent = time.monotonic()
        stopped = await asyncio.wait_for(daemon.stop(signal.SIGTERM), 15)
        took = time.monotonic() - sent
        answers = await asyncio.wait_for(asyncio.gather(*crowd), 30)
        for session in sessions:
            await session.close()
    finally:
        for writer in trickling:
            writer.close()
        if daemon.proc is not None and daemon.proc.returncode is None:
            await daemon.stop(signal.SIGKILL)
    assert stopped == 0 and took < 10, f"stopped {stopped} after {took:.1f} s"
    assert "stopped" in daemon.log
    assert len(answers) == 8 * len(paths) and 200 in answers
    assert set(answers) <= {200, 429, 503, "ServerDisconnectedError", "ClientOSError",
                            "ClientConnectorError"}, set(answers)  # fmt: skip
    assert "Traceback" not in daemon.log
