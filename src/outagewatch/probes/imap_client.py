"""The IMAP client of the probes: the few commands they send (RFC 9051, RFC 3501), spoken
over the socket ``net.connect`` connected and timed.

It replaced aioimaplib, whose machinery (a Command object with its own events and timeout
per command, a parser fed line by line) was the largest part of an IMAP probe's CPU, and
much of whose behaviour a probe had to override anyway (docs/BENCHMARKS.md). What
a probe facing broken or hostile servers needs is built in:

* Input is bounded: the length of a line, the untagged lines of one answer, the lines and
  the bytes of one connection. A literal (``{n}``) is read whole, within the same byte
  budget.
* A failure (the server closes, sends what does not parse, or too much) wakes the command
  in progress at once instead of leaving it to the probe timeout.
* Bytes that follow STARTTLS's OK in clear text are refused: read as if they came through
  TLS they would be a response injection ("Why TLS is better without STARTTLS", USENIX
  Security 2021).
* Logs never show a credential: LOGIN and AUTHENTICATE are logged without their arguments,
  the SASL response not at all.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from dataclasses import dataclass

from outagewatch.probes.result import ErrorKind, ProbeFailure
from outagewatch.text import decode, one_line

log = logging.getLogger("outagewatch.probes.imap")

# A probe's whole transaction is a few short answers (Dovecot: about 1 KiB). The bounds
# only stop a server that would grow our memory or keep the event loop parsing.
MAX_LINE = 64 * 1024
MAX_RECEIVED = 1024 * 1024
MAX_LINES = 10_000
# The answers a probe awaits have a dozen untagged lines (SELECT); reading 10,000 short ones
# took 16 ms of CPU, in runs that stall the loop every other probe waits on.
MAX_UNTAGGED = 1000

SECRET_COMMANDS = frozenset({"LOGIN", "AUTHENTICATE"})
GREETING = re.compile(rb"\* (OK|PREAUTH|BYE)(?: |$)", re.IGNORECASE)
RESP_CODE = re.compile(r"^\[[^\]]*\]\s*")
TAGGED = re.compile(rb"(\S+) (OK|NO|BAD)(?: |$)", re.IGNORECASE)
LITERAL = re.compile(rb"\{(\d{1,10})\+?\}\r?\n")  # RFC 7888's {n+} too
LITERAL_LONGEST = len(b"{9999999999+}\r\n")  # how far back from a line's end to look


@dataclass(frozen=True)
class Response:
    result: str  # OK, NO or BAD
    text: str  # what the server said with it (response code included), one line
    untagged: list[bytes]  # the untagged lines before it, without their "* "

    def words(self, keyword: bytes) -> list[str]:
        """The words after ``keyword`` in its untagged answers ("* SEARCH 4 7": 4 and 7)."""
        head = keyword + b" "
        return [
            word
            for line in self.untagged
            if line[: len(head)].upper() == head
            for word in line[len(head) :].decode("ascii", "replace").split()
        ]


def quoted(text: str) -> str:
    """An IMAP quoted string (RFC 9051 4.3). A line break would end the command early."""
    if "\r" in text or "\n" in text:
        raise ProbeFailure(ErrorKind.PROTOCOL, "a line break cannot be sent in an IMAP string")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def protocol_error(detail: str) -> ProbeFailure:
    return ProbeFailure(ErrorKind.PROTOCOL, detail)


class ImapConnection(asyncio.Protocol):
    """One client connection: sends tagged commands and reads their answers."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.preauth = False  # the greeting was PREAUTH: already logged in
        self.said_bye = False
        self._buffer = bytearray()
        self._received = 0
        self._lines = 0
        self._tags = 0
        self._lost = False
        self._failure: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    @classmethod
    async def open(
        cls, sock: socket.socket, host: str, tls: ssl.SSLContext | None
    ) -> ImapConnection:
        """Take over ``sock``; with implicit TLS the handshake is done when this returns."""
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(
                lambda: cls(host), sock=sock, ssl=tls, server_hostname=host if tls else None
            )
        except BaseException:
            sock.close()
            raise
        return connection

    async def greeting(self) -> str:
        """The server's first line, checked: its text, or a failure naming what came."""
        line = await self.next_line()
        match = GREETING.match(line)
        if match is None:
            raise self._fail(protocol_error(f"not an IMAP greeting: {decode(line, 80)!r}"))
        kind = match.group(1).upper()
        text = RESP_CODE.sub("", line[match.end() :].decode("utf-8", "replace"))
        if kind == b"BYE":
            refused = f"the server refused the session: {one_line(text, 120)}"
            raise self._fail(protocol_error(refused))
        self.preauth = kind == b"PREAUTH"
        return one_line(text, 80)

    async def command(self, name: str, *args: str, sasl: bytes | None = None) -> Response:
        """Send one command and read up to its tagged answer. ``sasl`` answers the one
        continuation request an AUTHENTICATE without an initial response gets."""
        tag = self.send(name, *args)
        return await self.completion(tag, name, sasl)

    def send(self, name: str, *args: str) -> str:
        self._tags += 1
        tag = f"A{self._tags}"
        line = " ".join((tag, name, *args))
        log.debug("Sending : %s", f"{tag} {name} ***" if name in SECRET_COMMANDS else line)
        self.write(line.encode())
        return tag

    def write(self, line: bytes) -> None:
        assert self.transport is not None  # set by connection_made before open returns
        self.transport.write(line + b"\r\n")

    async def completion(self, tag: str, name: str, sasl: bytes | None = None) -> Response:
        untagged: list[bytes] = []
        while True:
            line = await self.next_line()
            if line[:2] == b"* ":
                self._untagged(line, untagged)
            elif line[:1] == b"+":
                if sasl is None:
                    raise self._fail(
                        protocol_error(f"unexpected continuation request during {name}")
                    )
                log.debug("Sending : (SASL response, not logged)")
                self.write(sasl)
                sasl = None
            else:
                return self._tagged(line, tag, untagged)

    async def idle(self, wait: float) -> bool | None:
        """RFC 2177: IDLE until the server pushes something or ``wait`` passes, then DONE.
        Whether something was pushed; None when the server refused to IDLE."""
        tag = self.send("IDLE")
        untagged: list[bytes] = []
        while (line := await self.next_line())[:1] != b"+":
            if line[:2] != b"* ":
                self._tagged(line, tag, untagged)
                return None
            self._untagged(line, untagged)
        try:
            line = await asyncio.wait_for(self.next_line(), wait)
        except TimeoutError:
            line = b""
        if line and line[:2] != b"* ":  # the server ended the IDLE itself
            expect_ok(self._tagged(line, tag, untagged), "IDLE")
            return True
        self.write(b"DONE")
        expect_ok(await self.completion(tag, "IDLE"), "IDLE")
        return bool(line or untagged)

    async def start_tls(self, tls: ssl.SSLContext) -> None:
        """After STARTTLS's OK: nothing may have come in clear text since."""
        if self._buffer:
            raise self._fail(protocol_error("the server sent clear text after accepting STARTTLS"))
        assert self.transport is not None
        upgraded = await self.loop.start_tls(self.transport, self, tls, server_hostname=self.host)
        # connection_made is not called again: this protocol now reads through TLS.
        assert upgraded is not None
        self.transport = upgraded

    def abort(self) -> None:
        """Drop the connection at once: a probe never waits on a server to say goodbye."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()

    async def next_line(self) -> bytes:
        """The next response line, its literals included, without CRLF. Cancelling it
        loses nothing: a line is only taken from the buffer whole."""
        while True:
            line = self._take()
            if line is None:
                await self._more()
            elif line:  # stray empty lines are tolerated, and counted
                return line

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._failure is not None:
            return
        self._received += len(data)
        if self._received > MAX_RECEIVED:
            self._fail(protocol_error(f"the server sent more than {MAX_RECEIVED} bytes"))
            return
        self._buffer += data
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # close the transport: the reader says what the end means

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if isinstance(exc, ssl.SSLError) and self._failure is None:
            self._failure = exc
        self._wake()

    # reading

    def _take(self) -> bytes | None:
        buffer, start = self._buffer, 0
        while True:
            end = buffer.find(b"\n", start)
            if (end if end >= 0 else len(buffer)) - start > MAX_LINE:
                raise self._fail(
                    protocol_error(f"the server sent a line longer than {MAX_LINE} bytes")
                )
            if end < 0:
                return None
            literal = LITERAL.search(buffer, max(start, end + 1 - LITERAL_LONGEST), end + 1)
            if literal is None:
                line = bytes(buffer[: end + 1]).rstrip(b"\r\n")
                del buffer[: end + 1]
                self._lines += 1
                if self._lines > MAX_LINES:
                    raise self._fail(protocol_error(f"the server sent more than {MAX_LINES} lines"))
                return line
            start = end + 1 + int(literal.group(1))
            if start > len(buffer):
                return None  # the literal is still coming (within MAX_RECEIVED)

    async def _more(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._lost:
            partial = bytes(self._buffer)
            got = f" after {decode(partial, 60)!r}" if partial else ""
            raise protocol_error(f"the server closed the connection{got}")
        self._waiter = self.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, failure: BaseException) -> BaseException:
        """Keep the first failure, drop the connection and wake the reader."""
        if self._failure is None:
            self._failure = failure
        self.abort()
        self._wake()
        return self._failure

    def _untagged(self, line: bytes, into: list[bytes]) -> None:
        if len(into) >= MAX_UNTAGGED:
            too_many = f"the server sent more than {MAX_UNTAGGED} untagged lines in one answer"
            raise self._fail(protocol_error(too_many))
        body = line[2:]
        if body[:3].upper() == b"BYE":
            self.said_bye = True
        into.append(body)

    def _tagged(self, line: bytes, tag: str, untagged: list[bytes]) -> Response:
        match = TAGGED.match(line)
        if match is None or match.group(1) != tag.encode():
            # Not shown: the line may be the server echoing what we sent (a LOGIN).
            raise self._fail(protocol_error("the server's answer does not parse as IMAP"))
        text = decode(line[match.end() :], 120)
        return Response(match.group(2).upper().decode(), text, untagged)


def expect_ok(response: Response, step: str, kind: ErrorKind = ErrorKind.PROTOCOL) -> None:
    if response.result == "OK":
        return
    if response.result == "NO":
        raise ProbeFailure(kind, f"{step} rejected: {response.text}")
    raise ProbeFailure(ErrorKind.PROTOCOL, f"{step} answered {response.result} {response.text}")
