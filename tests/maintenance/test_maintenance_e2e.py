"""End to end: a latency fault inside an emergency maintenance window opens no incident; the
same fault going on past the window's end opens one ``outage_after`` after the end."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import yaml

from outagewatch.sim import ImapServer

from ..daemon.test_daemon_e2e import Daemon, free_port, wait_ready

OUTAGE_AFTER = 3.0
WINDOW = timedelta(seconds=8)


async def in_maintenance(session: aiohttp.ClientSession, port: int) -> float | None:
    async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
        metrics = await response.text()
    prefix = 'outagewatch_service_in_maintenance{platform="eu-de-1",protocol="imap"'
    line = next((m for m in metrics.splitlines() if m.startswith(prefix)), None)
    return None if line is None else float(line.rsplit(" ", 1)[1])


def bad_samples_between(db: Path, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The first and last bad sample that started inside [start, end)."""
    # Samples keep their start as epoch milliseconds (store/tables.py, EpochMillis).
    bounds = [int(moment.timestamp() * 1000) for moment in (start, end)]
    with sqlite3.connect(db) as conn:
        first, last = conn.execute(
            "SELECT min(started_at), max(started_at) FROM samples"
            " WHERE bad AND started_at >= ? AND started_at < ?",
            bounds,
        ).fetchone()
    assert first is not None, "no bad sample inside the window"
    return tuple(  # type: ignore[return-value]
        datetime.fromtimestamp(ms / 1000, UTC) for ms in (first, last)
    )


def transitions(db: Path) -> list[tuple[str, datetime, datetime]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT kind, started_at, at FROM transitions WHERE vantage='*' ORDER BY id"
        ).fetchall()
    return [
        (
            k,
            datetime.fromisoformat(s).replace(tzinfo=UTC),
            datetime.fromisoformat(a).replace(tzinfo=UTC),
        )
        for k, s, a in rows
    ]


async def token(config: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "outagewatch", "token", "create", "--name", "e2e", "--role", "oncall",
        "-c", str(config), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0, err
    return out.decode().strip()


@pytest.mark.timeout(120)
async def test_fault_inside_the_window_then_past_its_end(tmp_path: Path) -> None:
    port = free_port()
    db = tmp_path / "ow.db"
    async with ImapServer() as imap:
        config = tmp_path / "ow.yaml"
        config.write_text(yaml.safe_dump({
            "vantage": "fra",
            "database": f"sqlite+aiosqlite:///{db}",
            "api": {"listen": f"127.0.0.1:{port}"},
            "rules": {"slow_after": "500ms", "outage_after": "3s", "probe_interval": "250ms",
                      "probe_timeout": "2s", "max_gap": "2s"},
            "platforms": {"eu-de-1": {
                "name": "OX Cloud EU de-1", "timezone": "Europe/Berlin", "holidays": "DE",
                "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                "services": {"imap": {"protocol": "imap", "host": "127.0.0.1", "port": imap.port}},
            }},
        }))  # fmt: skip
        bearer = await token(config)
        daemon = Daemon(config)
        await daemon.start()
        try:
            async with aiohttp.ClientSession() as session:
                await wait_ready(port)
                # The window is placed once the daemon answers, so a slow start-up cannot eat it.
                start = datetime.now(UTC)
                end = start + WINDOW
                window = {
                    "platform": "eu-de-1", "kind": "emergency", "starts_at": start.isoformat(),
                    "ends_at": end.isoformat(), "expected_impact": "IMAP slow during a failover.",
                }  # fmt: skip
                async with session.post(
                    f"http://127.0.0.1:{port}/api/v1/maintenances", json=window,
                    headers={"Authorization": f"Bearer {bearer}"},
                ) as response:  # fmt: skip
                    assert response.status == 201, await response.text()
                imap.faults.greeting_delay = 1.0  # every sample slower than slow_after from now on
                async with asyncio.timeout(WINDOW.total_seconds()):
                    while await in_maintenance(session, port) != 1.0:  # noqa: ASYNC110
                        await asyncio.sleep(0.1)
            async with asyncio.timeout(WINDOW.total_seconds() + OUTAGE_AFTER + 60):
                while not transitions(db):  # noqa: ASYNC110 - another process's database
                    await asyncio.sleep(0.1)
        finally:
            assert await daemon.stop(signal.SIGTERM) == 0
    # Inside the window the service was bad for longer than outage_after, and no outage
    # opened there: the one transition starts at the window's end.
    first_bad, last_bad_inside = bad_samples_between(db, start, end)
    assert (last_bad_inside - first_bad).total_seconds() > OUTAGE_AFTER
    [(kind, started, detected)] = transitions(db)
    assert kind == "opened"
    assert abs((started - end).total_seconds()) < 0.01  # bad from the end of the window on
    assert detected == started + timedelta(seconds=OUTAGE_AFTER)
