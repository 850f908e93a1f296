"""The daemon as operators run it: a subprocess with compressed rules against sim/, its
outage visible in /metrics, and a SIGKILL in the middle of a bad run that changes nothing."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
import yaml

from outagewatch.sim import HttpServer

INTERVAL, OUTAGE_AFTER = 0.5, 6.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "outagewatch", "run", "-c", str(self.config),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        _, err = await asyncio.wait_for(self.proc.communicate(), timeout=20)
        print(err.decode(), file=sys.stderr)  # the daemon's log, shown when a test fails
        assert self.proc.returncode is not None
        return self.proc.returncode


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[HttpServer, Daemon, str, Path]]:
    port = free_port()
    db = tmp_path / "ow.db"
    config = {
        "vantage": "test",
        "database": f"sqlite+aiosqlite:///{db}",
        "api": {"listen": f"127.0.0.1:{port}"},
        "rules": {
            "slow_after": "1s", "outage_after": "6s", "probe_interval": "500ms",
            "probe_timeout": "3s", "max_gap": "5s",  # the restart below takes about 2 s
        },
        "platforms": {
            "eu-de-1": {
                "name": "OX Cloud EU de-1",
                "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                "services": {"webmail": {"protocol": "http", "url": "PLACEHOLDER"}},
            }
        },
    }  # fmt: skip
    async with HttpServer() as web:
        config["platforms"]["eu-de-1"]["services"]["webmail"]["url"] = web.url  # type: ignore[index]
        path = tmp_path / "ow.yaml"
        path.write_text(yaml.safe_dump(config))
        daemon = Daemon(path)
        await daemon.start()
        try:
            yield web, daemon, f"http://127.0.0.1:{port}/metrics", db
        finally:
            await daemon.stop(signal.SIGKILL)


async def metric(session: aiohttp.ClientSession, url: str, prefix: str) -> float | None:
    try:
        async with session.get(url) as response:
            text = await response.text()
    except aiohttp.ClientError:
        return None  # not up yet, or restarting
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return None


async def wait_for_good_probe(session: aiohttp.ClientSession, url: str) -> None:
    ok = 'outagewatch_probes_total{platform="eu-de-1",protocol="http",result="ok"'
    async with asyncio.timeout(20):
        while not await metric(session, url, ok):  # noqa: ASYNC110 - another process: polling is all there is
            await asyncio.sleep(0.05)


async def wait_for_gauge(
    session: aiohttp.ClientSession, url: str, value: float | None, within: float
) -> float:
    """Poll until the outage gauge shows ``value`` (None: no series, the service is not in
    outage); return the wall-clock time it was seen."""
    async with asyncio.timeout(within):
        while await metric(session, url, "outagewatch_service_outage{") != value:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return time.time()


def first_bad_and_detected(db: Path) -> tuple[float, float]:
    """The outage's start and detection as stored, checked against the raw samples."""
    with sqlite3.connect(db) as conn:
        started, detected = conn.execute(
            "SELECT started_at, at FROM transitions WHERE vantage='*' AND kind='opened'"
        ).fetchone()
        good_inside = conn.execute(
            "SELECT count(*) FROM samples WHERE NOT bad AND started_at BETWEEN ? AND ?",
            (started, detected),
        ).fetchone()[0]
        before = conn.execute(
            "SELECT bad FROM samples WHERE started_at < ? ORDER BY started_at DESC LIMIT 1",
            (started,),
        ).fetchone()
    assert good_inside == 0
    assert before is not None and before[0] == 0  # the run began right after a good sample

    def ts(text: str) -> float:  # SQLite keeps naive UTC
        return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()

    return ts(started), ts(detected)


async def test_outage_shows_within_one_interval_and_clears(
    setup: tuple[HttpServer, Daemon, str, Path],
) -> None:
    web, daemon, url, db = setup
    async with aiohttp.ClientSession() as session:
        await wait_for_good_probe(session, url)
        web.faults.greeting_delay = 1.5  # slower than slow_after: every sample is bad
        seen = await wait_for_gauge(session, url, 1.0, within=OUTAGE_AFTER + 10)
        started, detected = first_bad_and_detected(db)
        assert detected == pytest.approx(started + OUTAGE_AFTER, abs=1e-3)
        assert seen - detected <= INTERVAL + 0.1  # within one interval (plus polling)
        web.faults.greeting_delay = 0
        await wait_for_gauge(session, url, None, within=10)
    assert await daemon.stop() == 0  # SIGTERM: a clean stop


async def test_sigkill_mid_run_declares_at_the_same_moment(
    setup: tuple[HttpServer, Daemon, str, Path],
) -> None:
    web, daemon, url, db = setup
    async with aiohttp.ClientSession() as session:
        await wait_for_good_probe(session, url)
        web.faults.greeting_delay = 1.5
        await asyncio.sleep(2.5)  # an injected fault's duration: let the bad run begin
        assert await daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        await daemon.start()
        await wait_for_gauge(session, url, 1.0, within=OUTAGE_AFTER + 15)
    started, detected = first_bad_and_detected(db)
    assert detected == pytest.approx(started + OUTAGE_AFTER, abs=1e-3)
