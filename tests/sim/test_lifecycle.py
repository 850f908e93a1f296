"""Start, stop, refuse and record: no task or socket survives stop()."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time

import pytest

from outagewatch.sim import Faults, Pop3Server, SmtpServer
from tests.sim.simhelpers import (
    HEALTHY_START,
    HTTP_REQUEST,
    PROTOCOLS,
    SERVERS,
    USERS,
    RawClient,
    raw_client,
)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_each_connection_is_recorded_from_accept_to_close(protocol: str) -> None:
    delay = 0.1
    async with SERVERS[protocol](faults=Faults(greeting_delay=delay)) as server:
        async with raw_client(server) as client:
            await client.first_reply(protocol)
        await asyncio.wait_for(server.wait_until_idle(), 2)
        ended_at = time.perf_counter()
    [record] = server.connections
    assert client.started_at <= record.accepted_at
    assert record.closed_at is not None
    assert record.closed_at <= ended_at
    assert record.duration is not None
    assert record.duration >= delay


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_stop_ends_every_task_and_connection(protocol: str) -> None:
    before = asyncio.all_tasks()
    server = SERVERS[protocol](users=USERS)
    await server.start()
    async with raw_client(server) as greeted:
        assert (await greeted.first_reply(protocol)).startswith(HEALTHY_START[protocol])
        server.faults.greeting_delay = 30
        async with raw_client(server) as delayed:
            if protocol == "http":
                delayed.writer.write(HTTP_REQUEST)
            await asyncio.wait_for(server.wait_accepted(2), 2)
            server.faults.hang = True
            async with raw_client(server) as hanging:
                await asyncio.wait_for(server.wait_accepted(3), 2)
                await server.stop()
                # Checked at once: stop() itself must have waited for every task and close.
                assert asyncio.all_tasks() == before
                assert len(server.connections) == 3
                assert all(record.closed_at is not None for record in server.connections)
                assert await _rest(hanging) == b""
            assert await _rest(delayed) == b""
        await _rest(greeted)


async def _rest(client: RawClient) -> bytes:
    """What the client still receives until the server's close (an abort may reset)."""
    try:
        return await asyncio.wait_for(client.reader.read(), 2)
    except ConnectionResetError:
        return b""


@pytest.mark.solo
async def test_stop_closes_a_connection_still_in_the_tls_handshake(
    server_tls: ssl.SSLContext,
) -> None:
    before = asyncio.all_tasks()
    server = SmtpServer(tls="implicit", ssl_context=server_tls)
    await server.start()
    # A plain TCP client never sends its ClientHello: the server waits in the handshake.
    async with raw_client(server) as client:
        await asyncio.wait_for(server.wait_accepted(1), 2)
        started = time.perf_counter()
        await server.stop()
        assert time.perf_counter() - started < 1
        assert asyncio.all_tasks() == before
        [record] = server.connections
        assert record.closed_at is not None
        assert await _rest(client) == b""


async def test_a_failed_tls_handshake_is_recorded_and_closed(
    server_tls: ssl.SSLContext,
) -> None:
    async with SmtpServer(tls="implicit", ssl_context=server_tls) as server:
        async with raw_client(server) as client:
            await client.send("EHLO not-tls")  # not a ClientHello
            assert await _rest(client) == b""
        await asyncio.wait_for(server.wait_until_idle(), 2)
    [record] = server.connections
    assert record.closed_at is not None


async def test_refusing_leaves_open_connections_alone() -> None:
    async with Pop3Server() as server, raw_client(server) as client:
        await client.line()
        await server.set_refusing(True)
        assert await client.command("NOOP") == b"+OK\r\n"
        await server.set_refusing(False)


async def test_ipv6_loopback() -> None:
    async with Pop3Server(host="::1") as server, raw_client(server) as client:
        assert server.address == f"[::1]:{server.port}"
        assert (await client.line()).startswith(b"+OK")
        assert client.writer.get_extra_info("socket").family == socket.AF_INET6


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::", "localhost"])  # noqa: S104 - refused
def test_only_loopback_addresses(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        Pop3Server(host=host)


def test_tls_needs_a_server_context() -> None:
    with pytest.raises(ValueError, match="ssl_context"):
        Pop3Server(tls="implicit")


async def test_start_twice_and_refusing_before_start_are_errors() -> None:
    server = Pop3Server()
    with pytest.raises(RuntimeError):
        await server.set_refusing(True)
    async with server:
        with pytest.raises(RuntimeError):
            await server.start()
    await server.stop()  # a second stop is harmless
