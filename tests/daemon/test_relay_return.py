"""The relay comes back after an outage longer than ``retry_cap``, at a moment when the
backlog's own next retry is further away than a bound: the relay check (``relay_check``
apart at most) sends it within that bound. Operators get 30 s with the default relay_check;
the daemon runs here as a subprocess with compressed timings against sim/ servers."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from outagewatch.sim import ImapServer, SmtpServer

from ..incidents.test_crash_safety import config
from .test_daemon_e2e import Daemon

# With retry_base 250 ms the mail's attempts fail at 0, 0.25, 0.75, 1.75, 3.75 and 7.75 s,
# the next waits retry_cap: for about a second after 7.75 s it is more than BOUND away.
RETRY_CAP = timedelta(seconds=7)
BOUND = 6.0  # the backlog leaves within this of the relay's return: relay_check and margin
RELAY_CHECK = "1s"


def detected_row(db: Path) -> tuple[datetime, datetime] | None:
    """(created_at, next_attempt_at) of the pending "detected" mail, as the daemon stored it."""
    if not db.exists():
        return None
    with sqlite3.connect(db) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE name = 'notifications'")
        if tables.fetchone() is None:
            return None  # the daemon is still migrating
        found = conn.execute(
            "SELECT created_at, next_attempt_at FROM notifications"
            " WHERE kind = 'detected' AND audience = 'customer' AND state = 'pending'"
        ).fetchone()
    if found is None:
        return None
    created, due = (datetime.fromisoformat(t).replace(tzinfo=UTC) for t in found)
    return created, due


async def wait_for_a_long_backoff(db: Path) -> None:
    """Until the relay has failed for longer than retry_cap and the detected mail's next
    retry is more than BOUND away: only the relay check can then meet the bound."""
    async with asyncio.timeout(120):
        while True:
            row = detected_row(db)
            now = datetime.now(UTC)
            if (
                row is not None
                and now - row[0] > RETRY_CAP
                and (row[1] - now).total_seconds() > BOUND
            ):
                return
            await asyncio.sleep(0.05)  # another process's database: polling is all there is


@pytest.mark.timeout(180)
async def test_backlog_leaves_within_the_bound_of_the_relay_return(tmp_path: Path) -> None:
    async with ImapServer() as imap, SmtpServer() as sink:
        await sink.set_refusing(True)
        imap.faults.greeting_delay = 1.0  # every sample slower than slow_after: an outage
        timings = {"retry_base": "250ms", "retry_cap": f"{RETRY_CAP.total_seconds():g}s",
                   "relay_check": RELAY_CHECK}  # fmt: skip
        daemon = Daemon(config(tmp_path, imap.port, sink.port, update_every="1h", **timings))
        await daemon.start()
        try:
            await wait_for_a_long_backoff(tmp_path / "ow.db")
            await sink.set_refusing(False)
            async with asyncio.timeout(BOUND):
                await sink.wait_for_messages(2)  # the customer's and on-call's "detected"
        finally:
            await daemon.stop(signal.SIGTERM)
    mails = [message_from_bytes(m.data, policy=policy.default) for m in sink.messages]
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert subjects == [
        "[OX Cloud EU de-1] [Sev 1] Outage: IMAP — detected",
        "[on-call] [OX Cloud EU de-1] [Sev 1] Outage: IMAP — detected",
    ]
