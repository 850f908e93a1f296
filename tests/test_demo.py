"""``outagewatch demo`` shows the whole cycle and exits 0, as ``make demo`` runs it."""

from __future__ import annotations

import asyncio
import re
import sys

import pytest


@pytest.mark.timeout(200)
async def test_demo_shows_the_whole_cycle_and_exits_0() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "outagewatch", "demo",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=170)
    text = out.decode()
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
