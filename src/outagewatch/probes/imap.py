"""IMAP probe: greeting, STARTTLS or implicit TLS, LOGIN (or AUTHENTICATE PLAIN), SELECT, LOGOUT.

aioimaplib does the parsing and the command bookkeeping, on a socket we connected ourselves
so that DNS and connect are timed on their own. What it lacks or does loosely for a probe
facing servers that may be broken or hostile is done here, in subclasses:

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
import base64
import contextlib
import logging
import re
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aioimaplib

from outagewatch.config import ImapService
from outagewatch.probes.net import connect
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.probes.runner import Credentials
from outagewatch.probes.text import decode, one_line
from outagewatch.tls import client_context, handshake_of_transport

log = logging.getLogger(__name__)

# A probe's whole transaction is a few short answers (Dovecot: about 1 KiB). The bounds
# only stop a server that would grow our memory or keep the event loop parsing.
MAX_LINE = 64 * 1024
MAX_RECEIVED = 1024 * 1024
MAX_LINES = 10_000

SECRET_COMMANDS = frozenset({"LOGIN", "AUTHENTICATE"})
GREETING = re.compile(rb"\* (OK|PREAUTH|BYE)(?: |$)", re.IGNORECASE)
RESP_CODE = re.compile(r"^\[[^\]]*\]\s*")
EXISTS = re.compile(rb"(\d+) EXISTS", re.IGNORECASE)
VERSIONS = ("IMAP4REV2", "IMAP4REV1")


async def probe_imap(
    service: ImapService, credentials: Credentials | None, timer: PhaseTimer
) -> str:
    async with imap_session(service, timer) as client:
        return await _transaction(client, service, credentials, timer)


@contextlib.asynccontextmanager
async def imap_session(service: ImapService, timer: PhaseTimer) -> AsyncIterator[ImapClient]:
    """A connection (TLS handshake done when implicit), dropped at once when the block ends."""
    sock = await connect(service.host, service.effective_port, timer)
    try:
        implicit = None
        if service.tls == "implicit":
            timer.phase("tls")
            implicit = _tls_context(service)
        client = ImapClient(sock, service.host, implicit)
        try:
            await client.connected()
            timer.saw_tls(handshake_of_transport(client.protocol.transport))
            yield client
        finally:
            client.abort()
    finally:
        # Also covers a connection task cancelled before it wrapped the socket. One loop turn
        # first: the aborted transport lets go of the descriptor in a callback, and a socket
        # closed before that could reach the next probe under the same number while asyncio
        # still maps it to the old transport ("File descriptor 7 is used by transport").
        try:
            await asyncio.sleep(0)
        finally:
            sock.close()


def _tls_context(service: ImapService) -> ssl.SSLContext:
    # Built inside the tls phase, where loading the trust store belongs; clear text needs none.
    return client_context(verify=service.tls_verify, ca_file=service.ca_file)


async def _transaction(
    client: ImapClient, service: ImapService, credentials: Credentials | None, timer: PhaseTimer
) -> str:
    imap = client.protocol
    session = await open_session(client, service, credentials, timer)
    if credentials is None:
        timer.phase("logout")
        await logout(imap)
        return f"{session.version} ready, greeting {session.greeting!r}"
    timer.phase("command")
    messages = await select(imap, service.mailbox)
    timer.phase("logout")
    await logout(imap)
    return f"{session.version} ready{session.how}, {service.mailbox} selected ({messages})"


@dataclass(frozen=True)
class Session:
    greeting: str
    version: str
    capabilities: frozenset[str]
    mechanism: str | None  # how it logged in: "LOGIN" or "AUTHENTICATE PLAIN"

    @property
    def how(self) -> str:
        return f" ({self.mechanism})" if self.mechanism else ""


async def open_session(
    client: ImapClient, service: ImapService, credentials: Credentials | None, timer: PhaseTimer
) -> Session:
    """Greeting, CAPABILITY, STARTTLS when configured, login when given credentials, ID."""
    imap = client.protocol
    timer.phase("banner")
    greeting = await imap.wait_greeting()
    caps = await _capability(imap)
    if service.tls == "starttls":
        timer.phase("tls")
        await _starttls(client, caps, _tls_context(service))
        timer.saw_tls(handshake_of_transport(imap.transport))
        timer.phase("banner")
        caps = await _capability(imap)  # RFC 3501 6.2.1: forget what was said in clear text
    version = next((v for v in VERSIONS if v in caps), None)
    if version is None:
        raise ProbeFailure(ErrorKind.PROTOCOL, "the server does not speak IMAP4rev1")
    mechanism = None
    if credentials is not None:
        timer.phase("auth")
        if imap.state == aioimaplib.NONAUTH:  # not after a PREAUTH greeting
            mechanism = await _authenticate(imap, credentials, caps)
        caps = await _after_login(imap, caps)
    imap.capabilities = set(caps)  # aioimaplib's own idle() consults them
    return Session(greeting, version.replace("REV", "rev"), caps, mechanism)


async def _after_login(imap: ImapProtocol, caps: frozenset[str]) -> frozenset[str]:
    """RFC 2971 ID, only when announced; a server that answers BAD is tolerated (its ID
    support is an extra, not what the probe measures)."""
    if "ID" in caps:
        await imap.execute(imap.command("ID", '("name" "outagewatch")'))
    return caps


async def _capability(imap: ImapProtocol) -> frozenset[str]:
    response = await imap.execute(imap.command("CAPABILITY"))
    expect_ok(response, "CAPABILITY", ErrorKind.PROTOCOL)
    # The tagged text comes last; aioimaplib strips "* CAPABILITY" from the untagged line.
    words = b" ".join(response.lines[:-1]).decode("ascii", "replace").upper().split()
    if not words:
        raise ProbeFailure(ErrorKind.PROTOCOL, "CAPABILITY answered without capabilities")
    return frozenset(words)


async def _starttls(client: ImapClient, caps: frozenset[str], tls: ssl.SSLContext) -> None:
    imap = client.protocol
    if imap.state != aioimaplib.NONAUTH:
        raise ProbeFailure(ErrorKind.TLS, "the server pre-authenticated the session in clear text")
    if "STARTTLS" not in caps:
        raise ProbeFailure(ErrorKind.TLS, "the server does not offer STARTTLS")
    response = await imap.execute(imap.command("STARTTLS"))
    expect_ok(response, "STARTTLS", ErrorKind.TLS)
    imap.raise_failure()  # clear text sent after the OK (see ImapProtocol.data_received)
    await client.start_tls(tls)


async def _authenticate(imap: ImapProtocol, credentials: Credentials, caps: frozenset[str]) -> str:
    user, password = credentials.username, credentials.password
    wanted = credentials.mechanism
    use_login = wanted == "login" or (wanted is None and "LOGINDISABLED" not in caps)
    if use_login:
        if "LOGINDISABLED" in caps:
            raise ProbeFailure(ErrorKind.AUTH, "auth.mechanism is login but LOGINDISABLED")
        command = imap.command("LOGIN", aioimaplib.quoted(user), aioimaplib.quoted(password))
        mechanism = "LOGIN"
    elif "AUTH=PLAIN" in caps:
        plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
        if "SASL-IR" in caps:  # RFC 4959: the response goes with the command
            command = imap.command("AUTHENTICATE", "PLAIN", plain)
        else:
            imap.sasl_response = plain.encode("ascii")
            command = imap.command("AUTHENTICATE", "PLAIN")
        mechanism = "AUTHENTICATE PLAIN"
    elif wanted == "plain":
        raise ProbeFailure(ErrorKind.AUTH, "auth.mechanism is plain but AUTH=PLAIN is not offered")
    else:
        raise ProbeFailure(
            ErrorKind.AUTH, "the server refuses LOGIN (LOGINDISABLED) and offers no AUTH=PLAIN"
        )
    try:
        response = await imap.execute(command)
    finally:
        imap.sasl_response = None
    expect_ok(response, "login", ErrorKind.AUTH)
    imap.state = aioimaplib.AUTH
    return mechanism


async def select(imap: ImapProtocol, mailbox: str) -> str:
    response = await imap.execute(imap.command("SELECT", aioimaplib.quoted(mailbox)))
    expect_ok(response, f"SELECT {one_line(mailbox, 40)}", ErrorKind.PROTOCOL)
    imap.state = aioimaplib.SELECTED
    for line in response.lines[:-1]:
        match = EXISTS.fullmatch(line)
        if match:
            count = int(match.group(1))
            return f"{count} message{'s' if count != 1 else ''}"
    return "message count not given"


async def logout(imap: ImapProtocol) -> None:
    command = imap.command("LOGOUT")
    try:
        response = await imap.execute(command)
    except (ProbeFailure, OSError):
        # Some servers hang up right after their BYE: the session still ended properly.
        if any(line[:3].upper() == b"BYE" for line in command.response.lines):
            return
        raise
    expect_ok(response, "LOGOUT", ErrorKind.PROTOCOL)


def expect_ok(response: Any, step: str, kind: ErrorKind) -> None:
    if response.result == "OK":
        return
    text = one_line(response.lines[-1].decode("utf-8", "replace"), 120) if response.lines else ""
    if response.result == "NO":
        raise ProbeFailure(kind, f"{step} rejected: {text}")
    raise ProbeFailure(ErrorKind.PROTOCOL, f"{step} answered {one_line(response.result, 8)} {text}")


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
