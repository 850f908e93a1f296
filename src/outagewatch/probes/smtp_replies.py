"""SMTP replies read within a budget: aiosmtplib's client with a protocol that counts.

RFC 5321 4.5.3.1.5 caps a reply line at 512 octets; ``MAX_REPLY_LINE`` allows four times
that for servers that stretch it, and a multi-line reply (an EHLO, a greeting) may have at
most ``MAX_REPLY_LINES`` lines. A server that goes past either costs what was read so
far: the connection is dropped and the probe fails with a ``protocol`` error naming the
limit. aiosmtplib bounds a reply too (32 KiB), but only checks it when a line is whole and
names no limit.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiosmtplib
from aiosmtplib.protocol import SMTPProtocol

MAX_REPLY_LINE = 2048
MAX_REPLY_LINES = 100


class ReplyBudget:
    """Counts the lines of the reply being read, and what of its last line has come."""

    def __init__(self) -> None:
        self.exceeded: str | None = None  # the limit a reply went past, in words
        self._length = 0  # bytes of the line being read
        self._start = b""  # its first four bytes: "250-" announces another line
        self._lines = 0  # lines of the reply being read

    def spend(self, data: bytes) -> str | None:
        """Take ``data``; the limit it went past, if any. A chunk is scanned up to the end
        of the reply in it: the lines after belong to no reply we await (aiosmtplib drops
        them), and counting a flood of them would itself cost what the budget saves."""
        start = 0
        while True:
            end = data.find(b"\n", start)
            if len(self._start) < 4:
                self._start += data[start : start + 4 - len(self._start)]
            self._length += (end + 1 if end >= 0 else len(data)) - start
            if self._length > MAX_REPLY_LINE:
                return f"the server sent a reply line longer than {MAX_REPLY_LINE} bytes"
            if end < 0:
                return None
            final = self._start[3:4] != b"-"
            self._length, self._start = 0, b""
            if final:
                self._lines = 0
                return None
            self._lines += 1
            if self._lines >= MAX_REPLY_LINES:
                return f"the server sent a reply of more than {MAX_REPLY_LINES} lines"
            start = end + 1


class _BoundedReplies(SMTPProtocol):
    def __init__(self, budget: ReplyBudget, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._budget = budget

    def data_received(self, data: bytes) -> None:
        budget = self._budget
        if budget.exceeded is None:
            budget.exceeded = budget.spend(data)
        if budget.exceeded is None:
            super().data_received(data)
        elif isinstance(self.transport, asyncio.Transport):
            # Nothing more is read; the reply being awaited ends as "Connection lost",
            # which the probe reads as ``exceeded``.
            self.transport.abort()


class BoundedSMTP(aiosmtplib.SMTP):
    """aiosmtplib's client on a socket we connected, reading replies within `ReplyBudget`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.budget = ReplyBudget()

    async def _create_connection(
        self,
        timeout: float | None,  # noqa: ASYNC109 - the signature of what it overrides
    ) -> aiosmtplib.SMTPResponse:
        # aiosmtplib makes its protocol here and nowhere else, and offers no way to choose
        # another: this is its own code for a connected ``sock``, with our protocol.
        assert self.loop is not None and self.sock is not None
        protocol = _BoundedReplies(
            self.budget, loop=self.loop, connection_lost_callback=self._on_connection_lost
        )
        tls = self.tls_context if self.use_tls else None
        transport, _ = await self.loop.create_connection(
            lambda: protocol,
            sock=self.sock,
            ssl=tls,
            server_hostname=self.hostname if tls is not None else None,
        )
        self.protocol, self.transport = protocol, transport
        response = await protocol.read_response(timeout=timeout)
        if response.code != aiosmtplib.SMTPStatus.ready:
            raise aiosmtplib.SMTPConnectResponseError(response.code, response.message)
        return response
