"""One GET over one fresh connection: the webmail probe's request, without a client session.

aiohttp's client is built for sessions of many requests (a pool, cookies, tracing hooks,
per-request timeouts, request and response objects); for a probe of one GET that machinery
was over a quarter of the probe's CPU. This speaks the one request itself over the socket probes'
own timed connect, and leaves the parsing of the response to httptools (llhttp, the parser
of Node.js): status, headers, Content-Length, chunked and close-delimited bodies.

The status line and the headers are read within a budget (``MAX_HEAD`` bytes, at most
``MAX_HEADER_LINES`` header lines), the body up to ``MAX_BODY``: a server that never stops
talking costs a capped amount, then a ``protocol`` failure naming the limit. The parser is
fed whole lines of the head only, so it never grows one header value piece by piece (each
piece a copy of all before it: quadratic in the value's length).

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
from outagewatch.tls.handshake import handshake_of_transport

MAX_BODY = 1 << 20  # enough for any login page; a hostile server cannot make us buffer more
# Go's net/http allows a response head 1 MiB; browsers and proxies stop far sooner (nginx:
# 4 x 8 KiB header buffers). 64 KiB is more than a login page's cookies need.
MAX_HEAD = 64 * 1024
MAX_HEADER_LINES = 100
# The login's session (aiohttp) bounds each line of the head instead of the whole: its
# default, nginx's too, times MAX_HEADER_LINES.
MAX_HEAD_LINE = 8190
MAX_REDIRECTS = 10
REDIRECTS = frozenset({301, 302, 303, 307, 308})
USER_AGENT = f"outagewatch/{__version__} (probe)"  # which build probed, in the server's log
TOO_MANY_HEADER_LINES = f"the response has more than {MAX_HEADER_LINES} header lines"


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
        self._in_head = True  # until the final (not 1xx) response's headers are complete
        self._head = bytearray()  # the head's last line, until it is whole
        self._head_size = 0  # bytes of head fed to the parser, every head counted
        self._head_lines = 0  # lines fed to the parser of the head being read
        self._transport: asyncio.Transport | None = None
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

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            return  # the probe is over
        try:
            if self._in_head:
                self._read_head(self._parser, data)
            else:
                self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(ProbeFailure(ErrorKind.PROTOCOL, f"bad HTTP response: {exc}"))
        except ProbeFailure as exc:
            self._fail(exc)

    def _read_head(self, parser: httptools.HttpResponseParser, data: bytes) -> None:
        """Feed the parser the head's whole lines, within the budget; then the body."""
        head = self._head
        scanned = len(head)
        head += data
        while self._in_head:
            end = _head_end(head, max(0, scanned - 2), at_line_start=self._head_lines > 0)
            # Whole lines only: the last newline is in what came now, or nowhere.
            cut = end if end >= 0 else head.rfind(b"\n", scanned) + 1
            lines = self._head_lines + head.count(b"\n", 0, cut)
            self._check_budget(lines, end, self._head_size + (cut if end >= 0 else len(head)))
            if cut:
                parser.feed_data(bytes(head[:cut]))
                del head[:cut]
                self._head_size += cut
                self._head_lines = lines
            if end < 0:
                return  # the head goes on
            self._head_lines, scanned = 0, 0  # a 1xx head ended: the next one starts
        if head:  # the body's first bytes, which came with the head's end
            rest = bytes(head)
            head.clear()
            parser.feed_data(rest)

    def _check_budget(self, lines: int, end: int, size: int) -> None:
        # Not counted: the status line, and the blank line that ends the head.
        if lines - 1 - (end >= 0) > MAX_HEADER_LINES:
            raise ProbeFailure(ErrorKind.PROTOCOL, TOO_MANY_HEADER_LINES)
        if size > MAX_HEAD:
            raise ProbeFailure(
                ErrorKind.PROTOCOL, f"the response head is longer than {MAX_HEAD} bytes"
            )

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
            return
        self._in_head = False
        if not self.headers_in.done():
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
        # Nothing more is read: what the server sends from now on costs no CPU.
        self._parser = None
        if self._transport is not None:
            self._transport.abort()
        # The probe awaits headers_in, then complete: the first still pending gets the
        # error, and a later one is cancelled rather than left holding an unread error.
        pending = [f for f in (self.headers_in, self.complete) if not f.done()]
        if pending:
            pending[0].set_exception(exc)
            for later in pending[1:]:
                later.cancel()


def _head_end(head: bytearray, start: int, *, at_line_start: bool) -> int:
    """Just past the blank line that ends a head in ``head`` (searched from ``start``), or
    -1. ``at_line_start``: what came before ``head`` ended a line."""
    if at_line_start and (head[:1] == b"\n" or head[:2] == b"\r\n"):
        return head.index(b"\n") + 1
    ends = [at + len(sep) for sep in (b"\n\r\n", b"\n\n") if (at := head.find(sep, start)) >= 0]
    return min(ends, default=-1)
