"""One GET over one fresh connection: the webmail probe's request, without a client session.

aiohttp's client is built for sessions of many requests (a pool, cookies, tracing hooks,
per-request timeouts, request and response objects); for a probe of one GET that machinery
was over a quarter of the probe's CPU. This speaks the one request itself over the socket probes'
own timed connect, and leaves the parsing of the response to httptools (llhttp, the parser
of Node.js): status, headers, Content-Length, chunked and close-delimited bodies.

Phases: ``dns``, ``connect``, ``tls`` (https), ``first_byte`` (request sent until the
response headers are in) and ``body``. Redirects are followed (at most 10, each over a new
connection), as a browser arriving at the login page would.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import zlib
from dataclasses import dataclass

import httptools
from yarl import URL

from outagewatch import __version__
from outagewatch.probes.net import connect
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.tls import handshake_of_transport

MAX_BODY = 1 << 20  # enough for any login page; a hostile server cannot make us buffer more
MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = f"outagewatch/{__version__} (probe)"  # which build probed, in the server's log


@dataclass(frozen=True)
class Page:
    status: int
    body: bytes


async def get(url: str, tls: ssl.SSLContext, timer: PhaseTimer) -> Page:
    """GET ``url``, following redirects; the page's status and (decoded) body."""
    target = _target(url)
    for _ in range(MAX_REDIRECTS + 1):
        response = await _get_once(target, tls, timer)
        if response.status not in REDIRECTS or response.location is None:
            return Page(response.status, response.decoded())
        target = _target(str(target.url.join(URL(response.location))))
    raise ProbeFailure(ErrorKind.PROTOCOL, f"more than {MAX_REDIRECTS} redirects")


@dataclass(frozen=True)
class _Target:
    url: URL
    host: str
    port: int
    secure: bool
    request: bytes


@functools.lru_cache(maxsize=1 << 14)
def _target(url: str) -> _Target:
    """What a GET of ``url`` connects to and sends. The same few URLs are probed every
    round: parsing one and formatting its request each time was a tenth of a probe's CPU."""
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise ProbeFailure(ErrorKind.PROTOCOL, f"cannot GET {url!r}: not an http(s) URL")
    secure = parsed.scheme == "https"
    host = parsed.raw_host
    literal = f"[{host}]" if ":" in host else host  # an IPv6 address
    authority = literal if parsed.is_default_port() else f"{literal}:{parsed.port}"
    request = (
        f"GET {parsed.raw_path_qs} HTTP/1.1\r\n"
        f"Host: {authority}\r\n"
        f"User-Agent: {USER_AGENT}\r\n"
        "Accept: */*\r\n"
        "Accept-Encoding: gzip, deflate\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
    return _Target(parsed, host, parsed.port or (443 if secure else 80), secure, request)


async def _get_once(target: _Target, tls: ssl.SSLContext, timer: PhaseTimer) -> _Response:
    sock = await connect(target.host, target.port, timer)
    if target.secure:
        timer.phase("tls")
    loop = asyncio.get_running_loop()
    try:
        transport, response = await loop.create_connection(
            _Response,
            sock=sock,
            ssl=tls if target.secure else None,
            server_hostname=target.host if target.secure else None,
        )
    except BaseException:
        sock.close()
        raise
    try:
        if target.secure:
            timer.saw_tls(handshake_of_transport(transport))
        timer.phase("first_byte")
        transport.write(target.request)
        await response.headers_in
        timer.phase("body")
        await response.complete
        return response
    finally:
        transport.abort()  # a probe never waits on a server to say goodbye
        response.release()


class _Response(asyncio.Protocol):
    """The response of one GET, fed to llhttp as it arrives."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.headers_in: asyncio.Future[None] = loop.create_future()
        self.complete: asyncio.Future[None] = loop.create_future()
        self.status = 0
        self.location: str | None = None
        self.encoding = b""
        self._framed = False  # a Content-Length or chunked: the body's end is known
        self._body = bytearray()
        self._interim = False
        # The parser calls back into this protocol: a cycle, broken by ``release`` so that
        # a probe's garbage goes with its last reference, not with a full collection.
        self._parser: httptools.HttpResponseParser | None = httptools.HttpResponseParser(self)

    def release(self) -> None:
        self._parser = None

    def decoded(self) -> bytes:
        body = bytes(self._body)
        if self.encoding in (b"gzip", b"x-gzip", b"deflate"):
            try:  # wbits 47: gzip or zlib header, whichever the server sent
                return zlib.decompressobj(47).decompress(body, MAX_BODY)
            except zlib.error as exc:
                encoding = self.encoding.decode("latin-1")
                raise ProbeFailure(ErrorKind.PROTOCOL, f"bad {encoding} body: {exc}") from None
        return body

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            return  # the probe is over
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(ProbeFailure(ErrorKind.PROTOCOL, f"bad HTTP response: {exc}"))

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost decides what the end means

    def connection_lost(self, exc: Exception | None) -> None:
        if self.headers_in.done() and not self._framed:
            self._done()  # a body without a length ends with the connection
        where = "inside the body" if self.headers_in.done() else "before the response"
        closed = ProbeFailure(ErrorKind.PROTOCOL, f"the server closed the connection {where}")
        self._fail(exc or closed)

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        lowered = name.lower()
        if lowered == b"location":
            self.location = value.decode("latin-1")
        elif lowered == b"content-encoding":
            self.encoding = value.strip().lower()
        elif lowered in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        assert self._parser is not None  # it is the caller
        self.status = self._parser.get_status_code()
        # 1xx are interim answers; the response the request gets follows them.
        self._interim = 100 <= self.status < 200
        if self._interim:
            self._framed = False
        if not self._interim and not self.headers_in.done():
            self.headers_in.set_result(None)

    def on_body(self, body: bytes) -> None:
        room = MAX_BODY - len(self._body)
        self._body += body[:room]
        if room <= len(body):
            self._done()  # as much as a login page may be: the rest is not read

    def on_message_complete(self) -> None:
        if not self._interim:
            self._done()

    def _done(self) -> None:
        if not self.headers_in.done():
            self.headers_in.set_result(None)
        if not self.complete.done():
            self.complete.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        # The probe awaits headers_in, then complete: the first still pending gets the
        # error, and a later one is cancelled rather than left holding an unread error.
        pending = [f for f in (self.headers_in, self.complete) if not f.done()]
        if pending:
            pending[0].set_exception(exc)
            for later in pending[1:]:
                later.cancel()
