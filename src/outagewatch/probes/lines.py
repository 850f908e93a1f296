"""A bounded line reader over asyncio streams, for the text protocols we speak ourselves."""

from __future__ import annotations

import asyncio
import socket
import ssl

from outagewatch.probes.result import ErrorKind, ProbeFailure
from outagewatch.text import decode

# RFC 1939 caps a POP3 response line at 512 octets; 8 KiB leaves room for odd servers
# while a hostile one that never sends a newline cannot grow our memory.
MAX_LINE = 8192


class LineConnection:
    """One client connection: writes commands and reads CRLF-terminated lines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(
        cls, sock: socket.socket, tls: ssl.SSLContext | None, host: str
    ) -> LineConnection:
        reader, writer = await asyncio.open_connection(
            sock=sock, limit=MAX_LINE, ssl=tls, server_hostname=host if tls else None
        )
        return cls(reader, writer)

    async def start_tls(self, tls: ssl.SSLContext, host: str, command: str) -> None:
        """Upgrade after the server's go-ahead to ``command``. What it sent after that, in
        clear text, would be read as if it came through TLS: a response injection ("Why TLS
        is better without STARTTLS", USENIX Security 2021). StreamReader has no public view
        of what it holds, hence its ``_buffer``."""
        if getattr(self.reader, "_buffer", None):
            raise ProbeFailure(
                ErrorKind.PROTOCOL, f"the server sent clear text after accepting {command}"
            )
        await self.writer.start_tls(tls, server_hostname=host)

    async def readline(self) -> str:
        try:
            line = await self.reader.readuntil(b"\n")
        except asyncio.LimitOverrunError:
            raise ProbeFailure(
                ErrorKind.PROTOCOL, f"the server sent a line longer than {MAX_LINE} bytes"
            ) from None
        except asyncio.IncompleteReadError as exc:
            got = f" after {decode(exc.partial)!r}" if exc.partial else ""
            raise ProbeFailure(
                ErrorKind.PROTOCOL, f"the server closed the connection{got}"
            ) from None
        return line.decode("utf-8", "replace").rstrip("\r\n")

    async def send(self, line: str) -> None:
        self.writer.write(line.encode("utf-8") + b"\r\n")
        await self.writer.drain()

    def abort(self) -> None:
        """Drop the connection at once: a probe never waits on a server to say goodbye."""
        transport = self.writer.transport
        if not transport.is_closing():
            transport.abort()
