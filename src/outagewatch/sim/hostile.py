"""Byte-level misbehaviour shared by every simulator: hanging and the hostile modes.

These replace the real protocol for a whole connection, so they behave the same for HTTP,
SMTP, IMAP and POP3; only the words differ per protocol (`Shapes`). With implicit TLS they
start after the handshake, as a broken server behind a TLS terminator would.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

from outagewatch.sim.faults import Hostile
from outagewatch.sim.tracking import ConnectionRecord, ConnectionTracker

GARBAGE_BYTES = 64
LONG_LINE_BYTES = 1 << 20
ENDLESS_CHUNK = 1 << 16  # what the endless modes write at a time, as fast as the client reads


@dataclass(frozen=True)
class Shapes:
    """What a server of one protocol says when it misbehaves.

    ``greeting`` is a valid-looking greeting (``close_mid_reply`` sends half of it,
    ``long_line`` its first line and 1 MiB more); ``endless_line`` starts the line that
    never ends (``endless_line`` and ``drip``: an HTTP header value, an SMTP reply line,
    an IMAP or POP3 greeting);
    ``lines_head`` comes before ``line`` repeated for ever (``endless_lines``: HTTP header
    lines, an SMTP multi-line reply, IMAP untagged answers, POP3 lines that follow its
    greeting as a multi-line answer's body would).
    """

    greeting: bytes
    endless_line: bytes
    lines_head: bytes
    line: bytes


def garbage() -> bytes:
    """Random bytes with the high bit set, so they can never be mistaken for a protocol token."""
    return bytes(byte | 0x80 for byte in secrets.token_bytes(GARBAGE_BYTES)) + b"\r\n"


def long_line(greeting: bytes) -> bytes:
    """1 MiB without a newline that starts like the greeting, as a runaway server would."""
    start = greeting.split(b"\r\n", 1)[0]
    return start + b"x" * (LONG_LINE_BYTES - len(start))


class HostileProtocol(asyncio.Protocol):
    """Serves one connection with ``mode`` (None = hang) and ignores whatever the client says."""

    def __init__(
        self,
        tracker: ConnectionTracker,
        record: ConnectionRecord,
        mode: Hostile | None,
        shapes: Shapes,
        drip_interval: float,
    ) -> None:
        self._tracker = tracker
        self._record = record
        self._mode = mode
        self._shapes = shapes
        self._drip_interval = drip_interval
        self._task: asyncio.Task[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._tracker.attach(self._record, transport)
        if self._mode is not None:
            self._task = self._tracker.spawn(self._misbehave(transport), f"hostile {self._mode}")

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool | None:
        # The client has stopped sending: close our side too ("until the client goes away").
        return None

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._task is not None:
            self._task.cancel()
        self._tracker.closed(self._record)

    async def _misbehave(self, transport: asyncio.Transport) -> None:
        shapes = self._shapes
        if self._mode == "garbage":
            transport.write(garbage())
        elif self._mode == "long_line":
            transport.write(long_line(shapes.greeting))
        elif self._mode == "endless_line":
            await self._endless(transport, shapes.endless_line, b"x" * ENDLESS_CHUNK)
        elif self._mode == "endless_lines":
            lines = shapes.line * (ENDLESS_CHUNK // len(shapes.line))
            await self._endless(transport, shapes.lines_head, lines)
        elif self._mode == "drip":
            await self._drip(transport)
        elif self._mode == "close_mid_reply":
            transport.write(shapes.greeting[: len(shapes.greeting) // 2])
            transport.close()

    async def _endless(self, transport: asyncio.Transport, head: bytes, chunk: bytes) -> None:
        """``head``, then ``chunk`` again and again for as long as the client reads."""
        transport.write(head)
        while not transport.is_closing():
            await self._writable.wait()
            transport.write(chunk)
            await asyncio.sleep(0)  # a client that keeps up must not starve our own loop

    async def _drip(self, transport: asyncio.Transport) -> None:
        """The line that never ends, one byte every ``drip_interval`` seconds."""
        start = self._shapes.endless_line
        index = 0
        while not transport.is_closing():
            if index:
                await asyncio.sleep(self._drip_interval)
            transport.write(start[index : index + 1] if index < len(start) else b"x")
            index += 1
