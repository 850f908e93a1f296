"""What the API writes from input it was given stays inside its own field: the maintenance
calendar escapes every text value through icalendar (a lone carriage return too), and any
number of concurrent /metrics scrapes cost one exposition at a time."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.api.app import make_app
from outagewatch.api.auth import Handler
from outagewatch.metrics import Metrics

from .harness import Api, start_api
from .test_maintenance_routes import PLANNED
from .test_routes import call


@pytest.fixture
async def api(migrated_sqlite: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    harness = await start_api(migrated_sqlite, tmp_path)
    yield harness
    await harness.client.close()


async def test_a_lone_carriage_return_cannot_start_a_property(api: Api) -> None:
    impact = "IMAP down.\rBEGIN:VEVENT\rSUMMARY:Free beer\rEND:VEVENT\rAnd a line\nmore"
    status, _ = await call(
        api, "POST", "/api/v1/maintenances", json={**PLANNED, "expected_impact": impact}
    )
    assert status == 201
    async with api.client.get("/api/v1/maintenances.ics", headers=api.auth("viewer")) as response:
        assert response.status == 200
        raw = await response.read()
    assert b"\r" not in raw.replace(b"\r\n", b"")  # every CR is one of a line ending
    (event,) = Calendar.from_ical(raw).walk("VEVENT")
    assert str(event["description"]) == impact.replace("\r", "\n")
    assert str(event["summary"]) == "Maintenance eu-de-1: imap"


class CountingMetrics(Metrics):
    """The real exposition, with how many run at once counted; each waits for ``release``."""

    def __init__(self) -> None:
        super().__init__()
        self.running = self.most = self.runs = 0
        self.release = asyncio.Event()

    async def exposition(self, *, compressed: bool) -> bytes:
        self.running += 1
        self.runs += 1
        self.most = max(self.most, self.running)
        try:
            await self.release.wait()
            return await super().exposition(compressed=compressed)
        finally:
            self.running -= 1


async def test_concurrent_scrapes_run_one_exposition_at_a_time() -> None:
    metrics, scrapes, arrived = CountingMetrics(), 40, asyncio.Event()
    seen = 0

    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal seen
        seen += 1
        if seen == scrapes:
            arrived.set()
        return await handler(request)

    app = make_app(metrics, ready=lambda: True)
    app.middlewares.append(count)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        gets = [
            client.get("/metrics", headers={"Accept-Encoding": "gzip" if i % 2 else ""},
                       auto_decompress=False)
            for i in range(scrapes)
        ]  # fmt: skip
        pending = asyncio.gather(*gets)
        await asyncio.wait_for(arrived.wait(), 10)  # all of them in before any body is made
        metrics.release.set()
        responses = await asyncio.wait_for(pending, 10)
        bodies = [await r.read() for r in responses]
    finally:
        await client.close()
    assert [r.status for r in responses] == [200] * scrapes
    assert metrics.most == 1 and metrics.runs == 2  # one per encoding, never both at once
    plain, zipped = set(bodies[0::2]), set(bodies[1::2])
    assert len(plain) == 1 and len(zipped) == 1
    assert gzip.decompress(zipped.pop()) == plain.pop()
