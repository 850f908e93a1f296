"""Raw loopback clients and shared constants for the simulator tests."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import AsyncIterator

from outagewatch.sim import HttpServer, ImapServer, Pop3Server, SimServer, SmtpServer

PROTOCOLS = ("http", "smtp", "imap", "pop3")
SERVERS: dict[str, type[SimServer]] = {
    "http": HttpServer,
    "smtp": SmtpServer,
    "imap": ImapServer,
    "pop3": Pop3Server,
}
USER = "probe@example.net"
PASSWORD = "s3cret-Pa55"
USERS = {USER: PASSWORD}
HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
# What each server says first when it is healthy (HTTP: the status line of GET /).
HEALTHY_START = {
    "http": b"HTTP/1.1 200",
    "smtp": b"220 ",
    "imap": b"* OK ",
    "pop3": b"+OK",
}
REFUSAL = {
    "http": b"HTTP/1.1 503",
    "smtp": b"554 5.3.2 service unavailable\r\n",
    "imap": b"* BYE server unavailable\r\n",
    "pop3": b"-ERR server unavailable\r\n",
}
# A big read limit: the long_line test reads 1 MiB in one go.
READ_LIMIT = 4 << 20


class RawClient:
    """A client on asyncio streams that reads whatever the server sends."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.started_at = time.perf_counter()

    async def line(self, wait: float = 2.0) -> bytes:
        """The next line, failing the test after ``wait`` seconds."""
        return await asyncio.wait_for(self.reader.readline(), wait)

    async def send(self, text: str) -> None:
        self.writer.write(text.encode() + b"\r\n")
        await self.writer.drain()

    async def command(self, text: str, wait: float = 2.0) -> bytes:
        await self.send(text)
        return await self.line(wait)

    async def first_reply(self, protocol: str, wait: float = 2.0) -> bytes:
        """The greeting, or for HTTP the status line of ``GET /``."""
        if protocol == "http":
            self.writer.write(HTTP_REQUEST)
            await self.writer.drain()
        return await self.line(wait)

    async def start_tls(self, context: ssl.SSLContext) -> None:
        await self.writer.start_tls(context, server_hostname="localhost")


@contextlib.asynccontextmanager
async def raw_client(
    server: SimServer, tls: ssl.SSLContext | None = None
) -> AsyncIterator[RawClient]:
    started_at = time.perf_counter()
    reader, writer = await asyncio.open_connection(
        server.host,
        server.port,
        ssl=tls,
        server_hostname="localhost" if tls else None,
        limit=READ_LIMIT,
    )
    client = RawClient(reader, writer)
    client.started_at = started_at
    try:
        yield client
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), 2.0)
