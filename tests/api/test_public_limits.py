"""What an anonymous crowd can do to the daemon: the status page's rate limit per client
(429 with Retry-After), its cap on requests in flight, the server's connection cap and
header deadline, and the page a browser gets while the database is not there yet."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from outagewatch.api.context import ApiContext
from outagewatch.api.ratelimit import Limits
from outagewatch.api.server import REFUSED, Listener
from outagewatch.daemon.http import make_app
from outagewatch.incidents.engine import IncidentEngine, audiences
from outagewatch.metrics import Metrics
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade
from outagewatch.web.public import LIMITS
from tests.states.estates import T0, estate


@pytest.fixture
async def status_app(tmp_path: Path) -> AsyncIterator[Any]:
    made: list[Any] = []

    async def start(migrated: bool = True) -> TestClient:  # type: ignore[type-arg]
        db = tmp_path / "ow.db"
        engine = open_engine(f"sqlite+aiosqlite:///{db}")
        if migrated:
            await upgrade(engine)
        config = estate(3, db)
        incidents = IncidentEngine(engine, audiences(config))
        context = ApiContext(engine, config, incidents, None, lambda: T0)
        client = TestClient(TestServer(make_app(Metrics(), ready=lambda: True, api=context)))
        await client.start_server()
        made.append((client, engine))
        return client

    yield start
    for client, engine in made:
        await client.close()
        await engine.dispose()


def test_the_bucket_refills_at_the_rate_and_names_the_wait() -> None:
    limits = Limits(rate=2.0, burst=3.0)
    assert [limits.wait("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limits.wait("a", 0.0) == pytest.approx(0.5)
    assert limits.wait("b", 0.0) == 0.0  # another client has its own bucket
    assert limits.wait("a", 0.5) == 0.0  # half a second later: one token back


def test_the_table_of_clients_is_bounded() -> None:
    limits = Limits(clients=100)
    for n in range(1000):
        limits.wait(f"10.0.{n // 256}.{n % 256}", 0.0)
    assert len(limits._buckets) == 100


async def test_a_client_past_its_rate_gets_429_with_retry_after(status_app: Any) -> None:
    client = await status_app()
    client.app[LIMITS].rate, client.app[LIMITS].burst = 0.1, 3.0
    statuses = [(await client.get("/status/p0001")).status for _ in range(3)]
    refused = await client.get("/status/p0001")
    assert statuses == [200, 200, 200] and refused.status == 429
    assert refused.headers["Retry-After"] == "10"  # a token every 10 s
    assert refused.content_type == "text/html"
    assert (await client.get("/healthz")).status == 200  # not a public page: not limited


async def test_past_the_cap_in_flight_a_public_request_gets_503_at_once(status_app: Any) -> None:
    client = await status_app()
    client.app[LIMITS].busy = client.app[LIMITS].in_flight  # as many as it takes, answering
    response = await client.get("/status")
    assert response.status == 503 and response.headers["Retry-After"] == "1"
    client.app[LIMITS].busy = 0
    assert (await client.get("/status")).status == 200


async def test_while_the_database_is_not_ready_a_browser_gets_html(status_app: Any) -> None:
    client = await status_app(migrated=False)
    for url in ("/status", "/status/p0001", "/status/p0001/feed.atom"):
        response = await client.get(url, headers={"Accept": "text/html"})
        assert response.status == 503, url
        assert response.content_type == "text/html" and response.headers["Retry-After"]
        assert "status in a moment" in await response.text()
    api = await client.get("/api/v1/services", headers={"Authorization": "Bearer x"})
    assert api.content_type == "application/problem+json"


async def test_the_server_caps_connections_and_closes_a_trickling_head() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    listener = Listener(runner, max_connections=2, header_timeout=0.5)
    await listener.start("127.0.0.1", 0)
    writers: list[asyncio.StreamWriter] = []

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writers.append(writer)
        return reader, writer

    try:
        held = [await connect() for _ in range(2)]
        for _, writer in held:
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and the rest never comes
        await asyncio.sleep(0)
        for _ in range(100):  # until the server has both (it counts on connection_made)
            if len(runner.server.connections) == 2:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.01)
        reader, _ = await connect()
        assert await asyncio.wait_for(reader.read(), 5) == REFUSED
        for held_reader, _ in held:  # closed at the header deadline
            assert await asyncio.wait_for(held_reader.read(), 5) == b""
        reader, writer = await connect()
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(reader.read(), 5)).endswith(b"hello")
        assert listener.refused == 1
    finally:
        for writer in writers:
            writer.close()
        await listener.close()
