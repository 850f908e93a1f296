"""A server that accepts the connection and never answers (a hung application server behind a
load balancer) is declared in outage however the probes are timed: here with probe timeouts
of three and six probe intervals, where every probe is still running when the next ones start
and the schedule skips runs past max_overlap. The daemon runs as operators run it."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from outagewatch.durations import parse_duration
from outagewatch.sim import HttpServer
from tests.daemon.test_daemon_e2e import (
    Daemon,
    wait_for_gauge,
    wait_for_good_probe,
    webmail_daemon,
)

# Declared within a timeout and 2 s: timed alone, after the parallel run (see the Makefile).
pytestmark = pytest.mark.solo

OUTAGE_AFTER = 8.0
TIMEOUT = 3.0


def decided(db: Path) -> tuple[datetime, datetime, datetime]:
    """The service-level outage as stored: its first bad sample, the moment the rule became
    true, and when the daemon decided it."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT started_at, at, recorded_at FROM transitions"
            " WHERE vantage='*' AND kind='opened'"
        ).fetchone()
    return tuple(datetime.fromisoformat(v) for v in row)  # type: ignore[return-value]


@pytest.fixture(params=["1s", "500ms"])
async def hanging(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[HttpServer, Daemon, str, Path, float]]:
    # No max_gap: the default must follow from the schedule and the timeout.
    rules = {"slow_after": "1s", "outage_after": "8s", "probe_interval": request.param,
             "probe_timeout": "3s"}  # fmt: skip
    async with webmail_daemon(tmp_path, rules) as (web, daemon, url, db):
        yield web, daemon, url, db, parse_duration(request.param).total_seconds()


async def test_a_server_that_never_answers_is_declared_and_restored(
    hanging: tuple[HttpServer, Daemon, str, Path, float],
) -> None:
    web, daemon, url, db, interval = hanging
    async with aiohttp.ClientSession() as session:
        await wait_for_good_probe(session, url)
        assert await wait_for_gauge(session, url, 0.0, within=10)  # healthy: there, at 0
        web.faults.hang = True
        await wait_for_gauge(session, url, 1.0, within=interval + OUTAGE_AFTER + TIMEOUT + 15)
        started, detected, recorded = decided(db)
        assert (detected - started).total_seconds() == pytest.approx(OUTAGE_AFTER, abs=1e-3)
        # Declared within one probe timeout and 2 s of the moment the rule became true.
        assert (recorded - detected).total_seconds() <= TIMEOUT + 2
        web.faults.hang = False
        await wait_for_gauge(session, url, 0.0, within=TIMEOUT + 15)
    assert await daemon.stop() == 0
    with sqlite3.connect(db) as conn:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM transitions WHERE vantage='*'")]
    assert kinds == ["opened", "restored"]
