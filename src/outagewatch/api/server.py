"""The HTTP server of the daemon, bounded so that slow or many clients cannot take the file
descriptors and the time the probes need.

* at most ``MAX_CONNECTIONS`` connections: the next one gets a short 503 and is closed;
* a connection that has not sent a whole request head within ``HEADER_TIMEOUT`` of
  connecting is closed (a client trickling its headers holds nothing for long);
* an idle kept-alive connection is closed after ``KEEPALIVE``;
* request lines and header fields are bounded, and the listen backlog is small;
* at a stop, requests in flight get ``SHUTDOWN_GRACE`` to finish, then are cancelled.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiohttp import web

MAX_CONNECTIONS = 256
HEADER_TIMEOUT = 10.0  # seconds from connecting to a whole request head
KEEPALIVE = 15.0
SHUTDOWN_GRACE = 2.0
BACKLOG = 128
REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
    b"Connection: close\r\n\r\n"
)


def runner_options() -> dict[str, Any]:
    return {
        "access_log": None,
        "keepalive_timeout": KEEPALIVE,
        "max_line_size": 8190,
        "max_field_size": 8190,
        "shutdown_timeout": SHUTDOWN_GRACE,
    }


class _Refuse(asyncio.Protocol):
    """Past the connection cap: say so and close."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(REFUSED)
        transport.close()


@dataclass
class Listener:
    runner: web.AppRunner
    max_connections: int = MAX_CONNECTIONS
    header_timeout: float = HEADER_TIMEOUT
    refused: int = 0  # connections turned away at the cap
    _server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._connection, host, port, backlog=BACKLOG, reuse_address=True
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    def _connection(self) -> asyncio.BaseProtocol:
        server = self.runner.server
        assert server is not None
        if len(server.connections) >= self.max_connections:
            self.refused += 1
            return _Refuse()
        handler = server()
        asyncio.get_running_loop().call_later(self.header_timeout, self._head_due, handler)
        return handler

    @staticmethod
    def _head_due(handler: Any) -> None:
        # No request parsed on this connection yet: its head is still trickling in.
        if getattr(handler, "_request_count", 1) == 0 and handler.transport is not None:
            handler.force_close()

    async def close(self) -> None:
        """Stop listening, abandon renders (on_shutdown), let requests in flight finish
        for ``SHUTDOWN_GRACE``, then cancel them and close every connection."""
        if self._server is not None:
            self._server.close()
        await self.runner.cleanup()


async def listen(app: web.Application, host: str, port: int) -> Listener:
    runner = web.AppRunner(app, **runner_options())
    await runner.setup()
    listener = Listener(runner)
    try:
        await listener.start(host, port)
    except OSError:
        await runner.cleanup()
        raise
    return listener
