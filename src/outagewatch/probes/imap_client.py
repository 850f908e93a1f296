"""aioimaplib's client, made fit for a probe facing servers that may be broken or hostile.

aioimaplib does the parsing and the command bookkeeping, on a socket we connected ourselves
so that DNS and connect are timed on their own. What it lacks or does loosely is done here,
in subclasses:

* STARTTLS: it has no call for it; ``loop.start_tls`` upgrades its transport.
* The greeting is checked strictly; aioimaplib's ``welcome`` task accepts any line that
  contains "OK" and, on anything else, dies unobserved while the client waits forever.
* A failure (the server closes, sends what the parser rejects, or too much) wakes the
  command in progress at once instead of leaving it to the probe timeout.
* Received data is bounded, and fed to aioimaplib's parser line by line: the parser
  recurses once per line of a chunk and keeps an unterminated line without limit.
* Logging never shows a credential: aioimaplib's ``scrub`` masks the raw password only,
  not the quoted form it actually sends when the password holds ``"`` or ``\\``, and it
  logs a pending command (LOGIN with its arguments) when a continuation request arrives.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
from typing import Any

import aioimaplib

from outagewatch.probes.result import ErrorKind, ProbeFailure
from outagewatch.probes.text import decode, one_line

log = logging.getLogger("outagewatch.probes.imap")  # the name it logged under before the split

# A probe's whole transaction is a few short answers (Dovecot: about 1 KiB). The bounds
# only stop a server that would grow our memory or keep the event loop parsing.
MAX_LINE = 64 * 1024
MAX_RECEIVED = 1024 * 1024
MAX_LINES = 10_000

SECRET_COMMANDS = frozenset({"LOGIN", "AUTHENTICATE"})
GREETING = re.compile(rb"\* (OK|PREAUTH|BYE)(?: |$)", re.IGNORECASE)
RESP_CODE = re.compile(r"^\[[^\]]*\]\s*")


class ImapProtocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """aioimaplib's protocol with a strict greeting, bounded input and failures that wake."""

    state: str

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.greeting: asyncio.Future[str] = loop.create_future()
        self.failure: BaseException | None = None
        self.sasl_response: bytes | None = None
        self.upgrading = False  # between STARTTLS's OK and the handshake: the server must wait
        self._received = 0
        self._lines = 0

    def command(self, name: str, *args: str) -> Any:
        return aioimaplib.Command(name, self.new_tag(), *args, loop=self.loop)

    async def wait_greeting(self) -> str:
        greeting = await self.greeting
        self.raise_failure()
        return greeting

    async def execute(self, command: Any, scrub: str | None = None) -> Any:
        self.raise_failure()
        return await super().execute(command)

    def raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def fail(self, failure: BaseException) -> None:
        """Keep the first failure, drop the connection and wake whoever waits on the server."""
        if self.failure is None:
            self.failure = failure
        if self.transport is not None and not self.transport.is_closing():
            self.transport.abort()
        if not self.greeting.done():
            self.greeting.set_result("")
        for command in (self.pending_sync_command, *self.pending_async_commands.values()):
            if command is not None:
                command._exception = self.failure  # Command.wait() raises it
                command.close(b"", "KO")

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        if self._received > MAX_RECEIVED:
            self.fail(_protocol_error(f"the server sent more than {MAX_RECEIVED} bytes"))
            return
        start = 0
        while start < len(data) and self.failure is None:
            if self.upgrading:
                # It would be read as if it came through TLS: STARTTLS response injection
                # ("Why TLS is better without STARTTLS", USENIX Security 2021).
                self.fail(_protocol_error("the server sent clear text after accepting STARTTLS"))
                return
            end = data.find(b"\n", start) + 1 or len(data)
            try:
                super().data_received(data[start:end])
            except Exception:
                # Not shown: aioimaplib's messages may quote the pending command (a LOGIN).
                self.fail(_protocol_error("the server's answer does not parse as IMAP"))
            start = end
        if len(self.incomplete_line) > MAX_LINE:
            self.fail(_protocol_error(f"the server sent a line longer than {MAX_LINE} bytes"))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if isinstance(exc, ssl.SSLError):
            self.fail(exc)
            return
        partial = self.incomplete_line
        got = f" after {decode(partial, 60)!r}" if partial else ""
        self.fail(_protocol_error(f"the server closed the connection{got}"))

    def _handle_line(self, line: bytes, current_cmd: Any) -> Any:
        self._lines += 1
        if self._lines > MAX_LINES:
            self.fail(_protocol_error(f"the server sent more than {MAX_LINES} lines"))
            return None
        if self.state != aioimaplib.CONNECTED:
            return super()._handle_line(line, current_cmd)
        match = GREETING.match(line)
        kind = match.group(1).upper() if match else b""
        text = RESP_CODE.sub("", line[match.end() :].decode("utf-8", "replace")) if match else ""
        if kind == b"OK":
            self.state = aioimaplib.NONAUTH
        elif kind == b"PREAUTH":
            self.state = aioimaplib.AUTH
        elif kind == b"BYE":
            self.fail(_protocol_error(f"the server refused the session: {one_line(text, 120)}"))
            return None
        else:
            self.fail(_protocol_error(f"not an IMAP greeting: {decode(line, 80)!r}"))
            return None
        self.greeting.set_result(one_line(text, 80))
        return None

    def _response_done(self, line: bytes) -> None:
        command = self.pending_sync_command
        super()._response_done(line)
        if command is not None and command.name == "STARTTLS" and command.response.result == "OK":
            self.upgrading = True

    def _continuation(self, line: bytes) -> None:
        command = self.pending_sync_command
        if command is None or command.name not in SECRET_COMMANDS:
            super()._continuation(line)
        elif command.name == "AUTHENTICATE" and self.sasl_response is not None:
            response, self.sasl_response = self.sasl_response, None
            log.debug("Sending : (SASL PLAIN response, not logged)")
            self.transport.write(response + aioimaplib.CRLF)
        else:
            self.fail(_protocol_error(f"unexpected continuation request during {command.name}"))

    def send(self, line: str, scrub: str | None = None) -> None:
        tag, _, rest = line.partition(" ")
        name = rest.partition(" ")[0]
        log.debug("Sending : %s", f"{tag} {name} ***" if name in SECRET_COMMANDS else line)
        self.transport.write(f"{line}\r\n".encode())


def _protocol_error(detail: str) -> ProbeFailure:
    return ProbeFailure(ErrorKind.PROTOCOL, detail)


class ImapClient(aioimaplib.IMAP4):  # type: ignore[misc]
    """aioimaplib's client on a socket already connected (and timed) by ``net.connect``."""

    protocol: ImapProtocol

    def __init__(self, sock: socket.socket, host: str, tls: ssl.SSLContext | None) -> None:
        self._sock = sock
        super().__init__(host=host, port=0, timeout=None, ssl_context=tls)

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Any = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        running = asyncio.get_running_loop()
        self.protocol = ImapProtocol(running)
        # With implicit TLS the handshake happens here, before any byte reaches the protocol.
        self._client_task = running.create_task(
            running.create_connection(
                lambda: self.protocol,
                sock=self._sock,
                ssl=ssl_context,
                server_hostname=host if ssl_context is not None else None,
            )
        )

    async def connected(self) -> None:
        await self._client_task

    async def start_tls(self, tls: ssl.SSLContext) -> None:
        loop = asyncio.get_running_loop()
        # start_tls takes the transport away from the protocol before its first await.
        self.protocol.upgrading = False
        transport = await loop.start_tls(
            self.protocol.transport, self.protocol, tls, server_hostname=self.host
        )
        # connection_made is not called again: point aioimaplib at the TLS transport.
        self.protocol.transport = transport

    def abort(self) -> None:
        """Drop the connection at once: a probe never waits on a server to say goodbye."""
        transport = self.protocol.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
