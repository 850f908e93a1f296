"""The plain GET of the webmail probe against servers that answer in every way HTTP/1.1
allows, and in ways it does not: each answer is bytes on a real loopback socket."""

from __future__ import annotations

import asyncio
import gc
import gzip
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from outagewatch.config import HttpService, Rules
from outagewatch.probes import ErrorKind, PhaseTimer, ProbeFailure, probe_service
from outagewatch.probes.http_get import MAX_BODY, MAX_REDIRECTS, _Response, get

PAGE = b"<html><title>OX App Suite</title></html>"
Answer = Callable[[bytes], bytes | None]  # the request's head -> what to send (None: nothing)


class CannedServer:
    """Answers each connection's request with bytes of the test's choosing, then closes
    (or, with ``close=False``, keeps the connection open as a stalling server would)."""

    def __init__(self, answer: Answer, close: bool = True) -> None:
        self.answer = answer
        self.close = close
        self.requests: list[bytes] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        self.requests.append(head)
        reply = self.answer(head)
        if reply is not None:
            writer.write(reply)
            await writer.drain()
        if self.close:
            writer.close()
        else:
            await reader.read()  # until the probe goes away
            writer.close()


@asynccontextmanager
async def canned(answer: Answer, close: bool = True) -> AsyncIterator[CannedServer]:
    server = CannedServer(answer, close)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield server


def response(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def fixed(reply: bytes) -> Answer:
    return lambda head: reply


async def fetch(url: str) -> tuple[int, bytes, PhaseTimer]:
    timer = PhaseTimer()
    page = await asyncio.wait_for(get(url, ssl.create_default_context(), timer), 5)
    timer.finish()
    return page.status, page.body, timer


async def test_request_is_a_plain_first_visit() -> None:
    ok = response("200 OK", {"Content-Length": str(len(PAGE))}, PAGE)
    async with canned(fixed(ok)) as server:
        status, body, timer = await fetch(f"http://127.0.0.1:{server.port}/login?lang=en")
    assert (status, body) == (200, PAGE)
    head = server.requests[0].decode()
    assert head.startswith("GET /login?lang=en HTTP/1.1\r\n")
    assert f"\r\nHost: 127.0.0.1:{server.port}\r\n" in head
    assert "\r\nConnection: close\r\n" in head
    assert list(timer.phases) == ["dns", "connect", "first_byte", "body"]


async def test_chunked_body_is_reassembled() -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (PAGE[:10], PAGE[10:]))
    reply = response("200 OK", {"Transfer-Encoding": "chunked"}, chunks + b"0\r\n\r\n")
    async with canned(fixed(reply), close=False) as server:  # the end is the last chunk
        status, body, _ = await fetch(f"http://127.0.0.1:{server.port}/")
    assert (status, body) == (200, PAGE)


async def test_body_without_length_ends_with_the_connection() -> None:
    async with canned(fixed(response("200 OK", {}, PAGE))) as server:
        status, body, _ = await fetch(f"http://127.0.0.1:{server.port}/")
    assert (status, body) == (200, PAGE)


async def test_gzip_body_is_decoded() -> None:
    packed = gzip.compress(PAGE)
    headers = {"Content-Encoding": "gzip", "Content-Length": str(len(packed))}
    async with canned(fixed(response("200 OK", headers, packed))) as server:
        status, body, _ = await fetch(f"http://127.0.0.1:{server.port}/")
    assert (status, body) == (200, PAGE)


async def test_interim_answer_is_skipped() -> None:
    final = response("200 OK", {"Content-Length": str(len(PAGE))}, PAGE)
    async with canned(fixed(b"HTTP/1.1 100 Continue\r\n\r\n" + final)) as server:
        status, body, _ = await fetch(f"http://127.0.0.1:{server.port}/")
    assert (status, body) == (200, PAGE)


async def test_redirects_are_followed_over_new_connections() -> None:
    def answer(head: bytes) -> bytes:
        if head.startswith(b"GET / "):
            return response("302 Found", {"Location": "/appsuite/", "Content-Length": "0"})
        return response("200 OK", {"Content-Length": str(len(PAGE))}, PAGE)

    async with canned(answer) as server:
        status, body, _ = await fetch(f"http://127.0.0.1:{server.port}/")
    assert (status, body) == (200, PAGE)
    assert [r.split(b"\r\n")[0] for r in server.requests] == [
        b"GET / HTTP/1.1",
        b"GET /appsuite/ HTTP/1.1",
    ]


async def test_a_redirect_loop_is_a_protocol_failure() -> None:
    loop = fixed(response("301 Moved", {"Location": "/", "Content-Length": "0"}))
    async with canned(loop) as server:
        with pytest.raises(ProbeFailure, match=f"more than {MAX_REDIRECTS} redirects") as caught:
            await fetch(f"http://127.0.0.1:{server.port}/")
    assert caught.value.kind is ErrorKind.PROTOCOL
    assert len(server.requests) == MAX_REDIRECTS + 1


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (b"", "closed the connection before the response"),
        (response("200 OK", {"Content-Length": "1000"}, PAGE), "closed the connection inside"),
        (b"\xfe\xff garbage that is no status line\r\n\r\n", "bad HTTP response"),
        (
            response("200 OK", {"Content-Encoding": "gzip", "Content-Length": "5"}, b"nope!"),
            "bad gzip",
        ),
    ],
    ids=["nothing", "short-body", "garbage", "bad-gzip"],
)
async def test_broken_answers_are_protocol_failures(reply: bytes, says: str) -> None:
    async with canned(fixed(reply)) as server:
        with pytest.raises(ProbeFailure, match=says) as caught:
            await fetch(f"http://127.0.0.1:{server.port}/")
    assert caught.value.kind is ErrorKind.PROTOCOL


async def test_an_endless_body_is_cut_at_the_cap() -> None:
    """A server streaming forever cannot make the probe buffer more than MAX_BODY, nor
    keep it waiting: the page is judged on what the cap holds."""
    endless = response("200 OK", {"Content-Length": str(100 * MAX_BODY)}, PAGE + b"x" * MAX_BODY)
    async with canned(fixed(endless), close=False) as server:
        status, body, _ = await fetch(f"http://127.0.0.1:{server.port}/")
    assert status == 200 and len(body) == MAX_BODY and body.startswith(PAGE)


async def test_ipv6_literal_host_header() -> None:
    ok = response("200 OK", {"Content-Length": str(len(PAGE))}, PAGE)
    server = CannedServer(fixed(ok))
    try:
        listener = await asyncio.start_server(server._serve, "::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        status, _, _ = await fetch(f"http://[::1]:{port}/")
    assert status == 200
    assert f"\r\nHost: [::1]:{port}\r\n".encode() in server.requests[0]


async def test_probe_judges_the_page() -> None:
    """Through the whole probe: a wrong status and a missing text are failures of the page."""
    wrong = response("503 Service Unavailable", {"Content-Length": "4"}, b"down")
    async with canned(fixed(wrong)) as server:
        service = HttpService(protocol="http", url=f"http://127.0.0.1:{server.port}/")
        result = await probe_service(service, Rules())
    assert result.error_kind is ErrorKind.UNEXPECTED
    assert "status 503, expected 200" in result.detail and "(during body)" in result.detail


async def test_a_probe_leaves_no_cycle_for_the_collector() -> None:
    """A probe's response goes with its last reference: cycles that outlive a young
    collection wait for a full one, which stops every probe in flight (docs/BENCHMARKS.md)."""
    ok = response("200 OK", {"Content-Length": str(len(PAGE))}, PAGE)
    gc.collect()
    gc.disable()
    try:
        async with canned(fixed(ok)) as server:
            await fetch(f"http://127.0.0.1:{server.port}/")
            for _ in range(3):  # the aborted transport lets go of its protocol in a callback
                await asyncio.sleep(0)
        left = [o for o in gc.get_objects() if isinstance(o, _Response)]
    finally:
        gc.enable()
    assert left == []
