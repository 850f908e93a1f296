"""The plain GET's head budget (probes/http_get.py), fed to the response parser the way a
socket may cut it: byte by byte, or with the body in the same chunk as the head's end."""

from __future__ import annotations

import pytest

from outagewatch.probes import ErrorKind, ProbeFailure
from outagewatch.probes.http_get import MAX_HEAD, MAX_HEADER_LINES, _Response

PAGE = b"<html>OX App Suite</html>\n" * 200  # 200 lines of body: not header lines


def head(*headers: bytes, status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


async def read(*chunks: bytes) -> _Response:
    response = _Response()
    for chunk in chunks:
        response.data_received(chunk)
    return response


def failure(response: _Response) -> ProbeFailure:
    assert response.headers_in.done()
    error = response.headers_in.exception()
    assert isinstance(error, ProbeFailure), error
    assert error.kind is ErrorKind.PROTOCOL
    return error


def one_byte_at_a_time(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@pytest.mark.parametrize("cut", ["whole", "bytes"])
async def test_a_head_in_any_cut_is_read_with_its_body(cut: str) -> None:
    final = head(b"Location: /next", b"Content-Length: %d" % len(PAGE), status=b"302 Found")
    data = head(status=b"100 Continue") + final + PAGE
    response = await read(*(one_byte_at_a_time(data) if cut == "bytes" else [data]))
    assert response.complete.done() and response.complete.exception() is None
    assert (response.status, response.location, response.decoded()) == (302, "/next", PAGE)


async def test_the_head_may_have_as_many_header_lines_as_the_budget() -> None:
    lines = [b"Content-Length: 0", *(b"X-Many: %d" % i for i in range(MAX_HEADER_LINES - 1))]
    response = await read(head(*lines))
    assert response.complete.done() and response.complete.exception() is None


async def test_one_header_line_more_is_a_protocol_failure() -> None:
    lines = [b"Content-Length: 0", *(b"X-Many: %d" % i for i in range(MAX_HEADER_LINES))]
    response = await read(head(*lines))
    assert str(failure(response)) == f"the response has more than {MAX_HEADER_LINES} header lines"


@pytest.mark.parametrize(("extra", "ok"), [(0, True), (1, False)], ids=["at", "past"])
async def test_the_head_may_be_as_long_as_the_budget(extra: int, ok: bool) -> None:
    bare = head(b"Content-Length: 0", b"X-Long: ")
    value = b"v" * (MAX_HEAD - len(bare) + extra)
    data = head(b"Content-Length: 0", b"X-Long: " + value)
    response = await read(*[data[i : i + 1000] for i in range(0, len(data), 1000)])
    if ok:
        assert response.complete.done() and response.complete.exception() is None
    else:
        assert str(failure(response)) == f"the response head is longer than {MAX_HEAD} bytes"
