"""The faults every simulator shares, observed by a raw client, for each protocol."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from outagewatch.sim import Faults
from outagewatch.sim.hostile import ENDLESS_CHUNK, GARBAGE_BYTES, LONG_LINE_BYTES
from tests.sim.simhelpers import HEALTHY_START, PROTOCOLS, REFUSAL, SERVERS, USERS, raw_client

pytestmark = pytest.mark.parametrize("protocol", PROTOCOLS)

DELAY = 0.3
# Loopback answers in milliseconds; the slack absorbs a busy CI machine.
TOLERANCE = 0.2


async def test_healthy_start(protocol: str) -> None:
    async with SERVERS[protocol](users=USERS) as server, raw_client(server) as client:
        assert (await client.first_reply(protocol)).startswith(HEALTHY_START[protocol])


@pytest.mark.solo
async def test_greeting_delay_is_measured_by_the_client(protocol: str) -> None:
    faults = Faults(greeting_delay=DELAY)
    async with SERVERS[protocol](faults=faults) as server, raw_client(server) as client:
        first = await client.first_reply(protocol)
        elapsed = time.perf_counter() - client.started_at
    assert first.startswith(HEALTHY_START[protocol])
    assert DELAY <= elapsed < DELAY + TOLERANCE


async def test_hang_says_nothing(protocol: str) -> None:
    async with SERVERS[protocol](faults=Faults(hang=True)) as server:
        async with raw_client(server) as client:
            with pytest.raises(TimeoutError):
                await client.first_reply(protocol, wait=0.3)
            assert server.tracker.open_count == 1
        await asyncio.wait_for(server.wait_until_idle(), 2)


async def test_bad_banner(protocol: str) -> None:
    async with (
        SERVERS[protocol](faults=Faults(bad_banner=True)) as server,
        raw_client(server) as client,
    ):
        assert (await client.first_reply(protocol)).startswith(REFUSAL[protocol])


async def test_refusing_then_accepting_on_the_same_port(protocol: str) -> None:
    async with SERVERS[protocol]() as server:
        port = server.port
        await server.set_refusing(True)
        assert server.refusing
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(server.host, port)
        await server.set_refusing(False)
        assert not server.refusing
        assert server.port == port
        async with raw_client(server) as client:
            assert (await client.first_reply(protocol)).startswith(HEALTHY_START[protocol])


async def test_hostile_garbage(protocol: str) -> None:
    async with (
        SERVERS[protocol](faults=Faults(hostile="garbage")) as server,
        raw_client(server) as client,
    ):
        line = await client.line()
    assert len(line) == GARBAGE_BYTES + 2
    assert line.endswith(b"\r\n")
    assert all(byte >= 0x80 for byte in line[:-2])


async def test_hostile_long_line(protocol: str) -> None:
    server_class = SERVERS[protocol]
    async with (
        server_class(faults=Faults(hostile="long_line")) as server,
        raw_client(server) as client,
    ):
        data = await asyncio.wait_for(client.reader.readexactly(LONG_LINE_BYTES), 5)
        assert b"\n" not in data
        assert data.startswith(server_class.hostile_shapes.greeting[:4])
        assert server.tracker.open_count == 1  # and the connection stays open


async def test_hostile_endless_line(protocol: str) -> None:
    shapes = SERVERS[protocol].hostile_shapes
    async with (
        SERVERS[protocol](faults=Faults(hostile="endless_line")) as server,
        raw_client(server) as client,
    ):
        # Beyond any single write: the line goes on for as long as the client reads.
        size = len(shapes.endless_line) + 3 * LONG_LINE_BYTES
        data = await asyncio.wait_for(client.reader.readexactly(size), 5)
    assert data.startswith(shapes.endless_line)
    assert data[len(shapes.endless_line) :] == b"x" * (size - len(shapes.endless_line))
    await asyncio.wait_for(server.wait_until_idle(), 2)  # and it stops with the client


async def test_hostile_endless_lines(protocol: str) -> None:
    shapes = SERVERS[protocol].hostile_shapes
    async with (
        SERVERS[protocol](faults=Faults(hostile="endless_lines")) as server,
        raw_client(server) as client,
    ):
        head = await asyncio.wait_for(client.reader.readexactly(len(shapes.lines_head)), 5)
        count = 3 * ENDLESS_CHUNK // len(shapes.line)  # beyond any single write
        lines = await asyncio.wait_for(client.reader.readexactly(count * len(shapes.line)), 5)
    assert head == shapes.lines_head
    assert lines == shapes.line * count
    await asyncio.wait_for(server.wait_until_idle(), 2)


async def test_hostile_drip(protocol: str) -> None:
    server_class = SERVERS[protocol]
    interval = 0.02
    faults = Faults(hostile="drip", drip_interval=interval)
    async with server_class(faults=faults) as server, raw_client(server) as client:
        received = b""
        arrivals = []
        start = server_class.hostile_shapes.endless_line
        for _ in range(len(start) + 3):  # past the start, into the line that never ends
            received += await asyncio.wait_for(client.reader.read(1), 1)
            arrivals.append(time.perf_counter())
    assert received == start + b"xxx"
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert all(gap >= interval * 0.8 for gap in gaps), gaps


async def test_hostile_close_mid_reply(protocol: str) -> None:
    server_class = SERVERS[protocol]
    async with (
        server_class(faults=Faults(hostile="close_mid_reply")) as server,
        raw_client(server) as client,
    ):
        data = await asyncio.wait_for(client.reader.read(), 2)  # until the server closes
    greeting = server_class.hostile_shapes.greeting
    assert data == greeting[: len(greeting) // 2]
