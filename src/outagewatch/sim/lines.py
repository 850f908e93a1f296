"""What the hand-written line-based simulators (IMAP, POP3) share.

`LineServer` serves each connection with a `LineSession`: bounded line reading, replies
delayed per the faults, the greeting (or the refusal of ``bad_banner``) and STARTTLS.
A subclass only writes the conversation that follows the greeting.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ssl
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, TypeAlias

from outagewatch.sim.faults import Faults
from outagewatch.sim.server import SimServer
from outagewatch.sim.tracking import ConnectionRecord, ConnectionTracker

# Far above what IMAP or POP3 commands need (POP3 caps them at 255 octets), low enough that
# a client that never sends a newline cannot grow our memory.
MAX_LINE = 8192

_Serve: TypeAlias = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter], Coroutine[Any, Any, None]
]


class LineTooLong(Exception):
    """The client sent more than `MAX_LINE` bytes without a newline."""


class LineSession:
    """One client connection of a line-based simulator."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        faults: Faults,
        ssl_context: ssl.SSLContext | None,
        tls_active: bool,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._faults = faults
        self._ssl_context = ssl_context
        self.tls_active = tls_active

    async def greet(self, greeting: str, refusal: str) -> bool:
        """Send the greeting, or the refusal under ``bad_banner``; True if the session goes on."""
        await _pause(self._faults.greeting_delay)
        if self._faults.bad_banner:
            await self._write((refusal,))
            return False
        await self._write((greeting,))
        return True

    async def reply(self, *lines: str) -> None:
        """Send one reply (possibly several lines), after the ``reply_delay`` fault."""
        await _pause(self._faults.reply_delay)
        await self._write(lines)

    async def readline(self) -> str | None:
        """The next line without its line ending, or None once the client has gone."""
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise LineTooLong from None
        except asyncio.IncompleteReadError:
            return None
        return line.decode("utf-8", "replace").rstrip("\r\n")

    async def read_exactly(self, size: int) -> bytes | None:
        try:
            return await self._reader.readexactly(size)
        except asyncio.IncompleteReadError:
            return None

    async def start_tls(self) -> None:
        assert self._ssl_context is not None
        await self._writer.start_tls(self._ssl_context)
        self.tls_active = True

    def close(self) -> None:
        self._writer.close()

    async def _write(self, lines: tuple[str, ...]) -> None:
        self._writer.write("".join(f"{line}\r\n" for line in lines).encode())
        await self._writer.drain()


async def _pause(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)


class LineServer(SimServer):
    """A simulator for a line-based protocol; subclasses write `greeting` and `converse`."""

    # The greeting under the ``bad_banner`` fault; the connection is closed after it.
    refusal: ClassVar[str]
    # The last words to a client whose line exceeded MAX_LINE.
    line_too_long: ClassVar[str]

    @abc.abstractmethod
    def greeting(self, session: LineSession) -> str:
        """The greeting line (it may depend on the TLS state, e.g. for capabilities)."""

    @abc.abstractmethod
    async def converse(self, session: LineSession) -> None:
        """Speak the protocol after the greeting; return to close the connection."""

    def _protocol_for(self, record: ConnectionRecord) -> asyncio.BaseProtocol:
        return _LineProtocol(self.tracker, record, self._serve)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ssl_context = self.ssl_context if self.tls == "starttls" else None
        session = LineSession(reader, writer, self.faults, ssl_context, self.tls == "implicit")
        try:
            if await session.greet(self.greeting(session), self.refusal):
                await self.converse(session)
        except LineTooLong:
            with contextlib.suppress(OSError):
                await session.reply(self.line_too_long)
        except OSError:
            pass  # the client went away or broke the TLS handshake: nobody to tell
        finally:
            session.close()


class _LineProtocol(asyncio.StreamReaderProtocol):
    """Streams for one connection, with its record and its serving task tied to its life."""

    def __init__(
        self,
        tracker: ConnectionTracker,
        record: ConnectionRecord,
        serve: _Serve,
    ) -> None:
        super().__init__(asyncio.StreamReader(limit=MAX_LINE), self._connected)
        self._tracker = tracker
        self._record = record
        self._serve = serve
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._tracker.attach(self._record, transport)
        super().connection_made(transport)

    def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A plain callback, not a coroutine: StreamReaderProtocol would start a coroutine in a
        # task nobody keeps (3.11), and stop() must be able to cancel and await it.
        self._task = self._tracker.spawn(self._serve(reader, writer), "line session")

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        # A session paused in a fault delay would otherwise outlive its client.
        if self._task is not None:
            self._task.cancel()
        self._tracker.closed(self._record)
