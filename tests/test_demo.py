"""``outagewatch demo`` shows the whole cycle and exits 0, as ``make demo`` runs it; while
its incident is open, the status page and the console it prints show it."""

from __future__ import annotations

import asyncio
import re
import sys

import aiohttp
import pytest

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def seen_on_the_web(text: str) -> None:
    """The incident on the printed status page, and in the console signed in with the
    printed token."""
    status = re.search(r"status\s+(http://\S+/status/eu-de-1)", text)
    console = re.search(r"console\s+(http://\S+/console)", text)
    token = re.search(r"OUTAGEWATCH_TOKEN=(\S+)", text)
    ref = re.search(r"incident (OW-\d{8}-\d{4}) opened", text)
    assert status and console and token and ref, text
    # unsafe: the jar keeps cookies of an IP address host (the demo listens on 127.0.0.1).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(status.group(1)) as response:
            page = await response.text()
        assert "Current incidents" in page and ref.group(1) in page
        async with session.get(f"{console.group(1)}/sign-in") as response:
            found = CSRF.search(await response.text())
        assert found
        form = {"csrf": found.group(1), "token": token.group(1), "next": "/console"}
        async with session.post(f"{console.group(1)}/sign-in", data=form) as response:
            home = await response.text()
        assert response.url.path == "/console" and ref.group(1) in home


@pytest.mark.timeout(200)
async def test_demo_shows_the_whole_cycle_and_exits_0() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "outagewatch", "demo",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    text = ""
    async with asyncio.timeout(170):
        while line := (await proc.stdout.readline()).decode():
            text += line
            if "Outage: IMAP — detected" in line:
                await seen_on_the_web(text)
        await proc.wait()
    assert proc.returncode == 0, text
    assert re.search(r"metrics\s+http://127\.0\.0\.1:\d+/metrics", text)
    order = [
        "outage declared: imap on eu-de-1",
        "mail      [OX Cloud EU de-1] [Sev 2] Outage: IMAP — detected",
        "mail      [on-call] [OX Cloud EU de-1]",
        "Outage: IMAP, SMTP — update 1",
        "acknowledged by demo-oncall",
        "restored: smtp on eu-de-1",
        "Outage: IMAP, SMTP — restored",
        "demo finished",
    ]
    positions = [text.find(marker) for marker in order]
    assert -1 not in positions, [m for m, p in zip(order, positions, strict=True) if p < 0]
    assert positions == sorted(positions)
    assert "incidents-us@example.net" not in text  # the healthy platform's list hears nothing
    assert "demo-only-password" not in text
