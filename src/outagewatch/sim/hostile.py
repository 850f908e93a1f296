"""Byte-level misbehaviour shared by every simulator: hanging and the hostile modes.

These replace the real protocol for a whole connection, so they behave the same for HTTP,
SMTP, IMAP and POP3; only the "valid-looking greeting" differs per protocol. With implicit
TLS they start after the handshake, as a broken server behind a TLS terminator would.
"""

from __future__ import annotations

import asyncio
import secrets

from outagewatch.sim.faults import Hostile
from outagewatch.sim.tracking import ConnectionRecord, ConnectionTracker

GARBAGE_BYTES = 64
LONG_LINE_BYTES = 1 << 20


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
        greeting: bytes,
        drip_interval: float,
    ) -> None:
        self._tracker = tracker
        self._record = record
        self._mode = mode
        self._greeting = greeting
        self._drip_interval = drip_interval
        self._task: asyncio.Task[None] | None = None

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

    def connection_lost(self, exc: Exception | None) -> None:
        if self._task is not None:
            self._task.cancel()
        self._tracker.closed(self._record)

    async def _misbehave(self, transport: asyncio.Transport) -> None:
        if self._mode == "garbage":
            transport.write(garbage())
        elif self._mode == "long_line":
            transport.write(long_line(self._greeting))
        elif self._mode == "drip":
            await self._drip(transport)
        elif self._mode == "close_mid_reply":
            transport.write(self._greeting[: len(self._greeting) // 2])
            transport.close()

    async def _drip(self, transport: asyncio.Transport) -> None:
        for index in range(len(self._greeting)):
            if index:
                await asyncio.sleep(self._drip_interval)
            transport.write(self._greeting[index : index + 1])
