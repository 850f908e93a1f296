"""The status page of a platform with 4 services and 90 days of hourly roll-ups: how long
one request takes, through a real aiohttp server on a SQLite file (the read of 8,640
roll-ups, the 360 bars, the template rendered off the loop). Target: under 50 ms (the
median of warm requests; the first request after the hourly roll-up reads them all again,
and is shown as "cold").

``python -m bench.status_page`` runs it alone; ``python -m bench`` adds it to its report.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import insert

from outagewatch.api.context import ApiContext
from outagewatch.api.ratelimit import Limits
from outagewatch.config import Config, parse_config
from outagewatch.daemon.http import make_app
from outagewatch.incidents.engine import IncidentEngine, audiences
from outagewatch.metrics import Metrics
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade
from outagewatch.store.tables import rollups, transitions
from outagewatch.web.public import LIMITS

TARGET_MS = 50.0
SERVICES = ("webmail", "smtp", "imap", "pop3")
DAYS, REQUESTS, WARMUP = 90, 60, 5
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _config(db: Path) -> Config:
    services = {
        "webmail": {"protocol": "http", "url": "http://127.0.0.1:9/"},
        "smtp": {"protocol": "smtp", "host": "127.0.0.1", "port": 9},
        "imap": {"protocol": "imap", "host": "127.0.0.1", "port": 9},
        "pop3": {"protocol": "pop3", "host": "127.0.0.1", "port": 9},
    }
    return parse_config({
        "database": f"sqlite+aiosqlite:///{db}",
        "web": {"status_page": True, "public_url": "https://status.example.net"},
        "platforms": {"eu-de-1": {
            "name": "OX Cloud EU de-1", "timezone": "Europe/Berlin", "services": services,
            "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
        }},
    })  # fmt: skip


async def _fill(config: Config) -> None:
    """90 days of hourly roll-ups per service, and an outage every ten days."""
    engine = open_engine(config.database)
    await upgrade(engine)
    start = NOW.replace(minute=0) - timedelta(days=DAYS)
    hours = [start + timedelta(hours=h) for h in range(DAYS * 24)]
    async with engine.begin() as conn:
        await conn.execute(insert(rollups), [
            {"platform": "eu-de-1", "service": s, "vantage": "fra", "hour": h, "count": 120,
             "bad_count": 0, "p50": 0.2, "p95": 0.4, "max": 0.9}
            for s in SERVICES for h in hours
        ])  # fmt: skip
        for day in range(5, DAYS, 10):
            began = start + timedelta(days=day, hours=3)
            for kind, at in (("opened", began + timedelta(minutes=15)),
                             ("restored", began + timedelta(minutes=50))):  # fmt: skip
                await conn.execute(insert(transitions).values(
                    platform="eu-de-1", service=SERVICES[day % 4], vantage="*", kind=kind,
                    started_at=began, at=at, decided_at=at, recorded_at=at, processed_at=at,
                ))  # fmt: skip
    await engine.dispose()


async def measure() -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory(prefix="outagewatch-bench-status-") as tmp:
        config = _config(Path(tmp) / "ow.db")
        await _fill(config)
        engine = open_engine(config.database)
        context = ApiContext(
            engine, config, IncidentEngine(engine, audiences(config)), None, lambda: NOW
        )
        app = make_app(Metrics(), ready=lambda: True, api=context)
        # One client asks every request here; what is measured is the page, not the per-client
        # rate limit, which would refuse this client long before the last request.
        app[LIMITS] = Limits(burst=WARMUP + REQUESTS)
        client = TestClient(TestServer(app))
        await client.start_server()
        timings, cold = [], 0.0
        try:
            for n in range(WARMUP + REQUESTS):
                began = time.perf_counter()
                async with client.get("/status/eu-de-1") as response:
                    body = await response.read()
                    assert response.status == 200 and body.count(b'class="bar ') == 4 * DAYS
                elapsed = (time.perf_counter() - began) * 1000
                if n == 0:
                    cold = elapsed
                elif n >= WARMUP:
                    timings.append(elapsed)
        finally:
            await client.close()
            await engine.dispose()
    return cold, timings


def report() -> str:
    cold, timings = asyncio.run(measure())
    median = statistics.median(timings)
    p95 = statistics.quantiles(timings, n=20)[18]
    verdict = "meets" if median < TARGET_MS else "MISSES"
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"status page, 4 services x {DAYS} days of hourly roll-ups, {REQUESTS} requests: "
        f"median {median:.1f} ms ({verdict} the {TARGET_MS:.0f} ms target), p95 {p95:.1f} ms, "
        f"max {max(timings):.1f} ms, cold {cold:.1f} ms; load average {load}"
    )


if __name__ == "__main__":
    print(report())
