"""HTTP simulator: a webmail-like login page on aiohttp's low-level server.

``GET /`` answers a page that says "OX App Suite"; ``POST /login`` with the form fields
``username`` and ``password`` answers 200 "Welcome" or 401. aiohttp's ``web.Server`` is used
directly (no Application) so that our own listener hands it each connection.
"""

from __future__ import annotations

import asyncio
import html
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeAlias

from aiohttp import web

from outagewatch.sim.faults import Faults
from outagewatch.sim.hostile import Shapes
from outagewatch.sim.server import SimServer
from outagewatch.sim.tracking import ConnectionRecord, ConnectionTracker
from outagewatch.tls.contexts import TlsMode

LOGIN_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>OX App Suite</title></head>
<body><h1>OX App Suite</h1>
<form method="post" action="/login">
<input name="username" type="text"> <input name="password" type="password">
<button type="submit">Sign in</button></form>
</body></html>
"""
WELCOME_PAGE = "<!DOCTYPE html><html><body><p>Welcome, {username}</p></body></html>\n"
_Respond: TypeAlias = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


class HttpServer(SimServer):
    """A webmail login page; see `SimServer` for the constructor.

    TLS is ``none`` or ``implicit`` (https); HTTP has no STARTTLS. Faults: every response
    waits ``greeting_delay + reply_delay``; ``bad_banner`` answers 503 to everything;
    ``hang`` and ``hostile`` act on the raw connection (the client gets no HTTP at all,
    or a dripped / truncated ``HTTP/1.1 200 OK`` head).
    """

    protocol = "http"
    hostile_shapes = Shapes(
        greeting=b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\n\r\n",
        endless_line=b"HTTP/1.1 200 OK\r\nX-Endless: ",
        lines_head=b"HTTP/1.1 200 OK\r\n",
        line=b"X-Filler: x\r\n",
    )

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsMode = "none",
        ssl_context: ssl.SSLContext | None = None,
        users: Mapping[str, str] | None = None,
        faults: Faults | None = None,
    ) -> None:
        if tls == "starttls":
            raise ValueError("tls='starttls' does not exist for HTTP: use 'none' or 'implicit'")
        super().__init__(
            host=host, port=port, tls=tls, ssl_context=ssl_context, users=users, faults=faults
        )
        self._web: _RecordingWebServer | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls == 'implicit' else 'http'}://{self.address}/"

    async def start(self) -> None:
        if not self.running:
            # web.Server binds to the running loop, so it is made here, not in __init__.
            self._web = _RecordingWebServer(self._respond, self.tracker)
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        if self._web is not None:
            await self._web.shutdown(0)
            self._web = None

    def _protocol_for(self, record: ConnectionRecord) -> asyncio.BaseProtocol:
        assert self._web is not None
        handler = self._web()
        self._web.records[handler] = record
        return handler

    def _forget(self, protocol: asyncio.BaseProtocol) -> None:
        if self._web is not None and isinstance(protocol, web.RequestHandler):
            self._web.records.pop(protocol, None)

    async def _respond(self, request: web.BaseRequest) -> web.StreamResponse:
        delay = self.faults.greeting_delay + self.faults.reply_delay
        if delay > 0:
            await asyncio.sleep(delay)
        if self.faults.bad_banner:
            return web.Response(status=503, text="service unavailable\n")
        if request.path == "/":
            if request.method not in ("GET", "HEAD"):
                return web.Response(status=405, headers={"Allow": "GET, HEAD"})
            return web.Response(text=LOGIN_PAGE, content_type="text/html")
        if request.path == "/login":
            if request.method != "POST":
                return web.Response(status=405, headers={"Allow": "POST"})
            return await self._login(request)
        return web.Response(status=404, text="not found\n")

    async def _login(self, request: web.BaseRequest) -> web.Response:
        form = await request.post()
        username, password = form.get("username"), form.get("password")
        if (
            isinstance(username, str)
            and isinstance(password, str)
            and self.accepts(username, password)
        ):
            page = (
                f"<!DOCTYPE html><html><body><p>Welcome, {html.escape(username)}</p></body></html>"
            )
            return web.Response(text=page, content_type="text/html")
        return web.Response(status=401, text="Login failed\n", content_type="text/plain")


class _RecordingWebServer(web.Server):
    """aiohttp's connection manager, reporting each connection to our tracker."""

    def __init__(self, respond: _Respond, tracker: ConnectionTracker) -> None:
        # handler_cancellation: a request paused in a fault delay ends with its client.
        super().__init__(respond, handler_cancellation=True)
        self.tracker = tracker
        self.records: dict[web.RequestHandler, ConnectionRecord] = {}

    def connection_made(self, handler: web.RequestHandler, transport: asyncio.Transport) -> None:
        super().connection_made(handler, transport)
        record = self.records.get(handler)
        if record is not None:
            self.tracker.attach(record, transport)

    def connection_lost(
        self, handler: web.RequestHandler, exc: BaseException | None = None
    ) -> None:
        # The handler's task is still set here and cancelled right after; stop() must await
        # it, and aiohttp offers no public way to reach it.
        task = handler._task_handler
        if task is not None:
            self.tracker.adopt(task)
        super().connection_lost(handler, exc)
        record = self.records.pop(handler, None)
        if record is not None:
            self.tracker.closed(record)
