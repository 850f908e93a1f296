"""IMAP probe: greeting, STARTTLS or implicit TLS, LOGIN (or AUTHENTICATE PLAIN), ID when
announced, SELECT, LOGOUT. The client underneath (strict and bounded) is in imap_client.py;
the session set-up here is shared with the round trip.
"""

from __future__ import annotations

import base64
import contextlib
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

from outagewatch.config import ImapService
from outagewatch.probes.imap_client import ImapConnection, expect_ok, quoted
from outagewatch.probes.net import connect
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.probes.runner import Credentials
from outagewatch.text import one_line
from outagewatch.tls.contexts import client_context
from outagewatch.tls.handshake import handshake_of_transport

EXISTS = re.compile(rb"(\d+) EXISTS", re.IGNORECASE)
VERSIONS = ("IMAP4REV2", "IMAP4REV1")


async def probe_imap(
    service: ImapService, credentials: Credentials | None, timer: PhaseTimer
) -> str:
    async with imap_session(service, timer) as imap:
        return await _transaction(imap, service, credentials, timer)


@contextlib.asynccontextmanager
async def imap_session(service: ImapService, timer: PhaseTimer) -> AsyncIterator[ImapConnection]:
    """A connection (TLS handshake done when implicit), dropped at once when the block ends."""
    sock = await connect(service.host, service.effective_port, timer)
    implicit = None
    if service.tls == "implicit":
        timer.phase("tls")
        try:
            implicit = _tls_context(service)
        except BaseException:
            sock.close()
            raise
    imap = await ImapConnection.open(sock, service.host, implicit)
    try:
        timer.saw_tls(handshake_of_transport(imap.transport))
        yield imap
    finally:
        imap.abort()


def _tls_context(service: ImapService) -> ssl.SSLContext:
    # Built inside the tls phase, where loading the trust store belongs; clear text needs none.
    return client_context(verify=service.tls_verify, ca_file=service.ca_file)


async def _transaction(
    imap: ImapConnection, service: ImapService, credentials: Credentials | None, timer: PhaseTimer
) -> str:
    session = await open_session(imap, service, credentials, timer)
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
    imap: ImapConnection, service: ImapService, credentials: Credentials | None, timer: PhaseTimer
) -> Session:
    """Greeting, CAPABILITY, STARTTLS when configured, login when given credentials, ID."""
    timer.phase("banner")
    greeting = await imap.greeting()
    caps = await _capability(imap)
    if service.tls == "starttls":
        timer.phase("tls")
        await _starttls(imap, caps, _tls_context(service))
        timer.saw_tls(handshake_of_transport(imap.transport))
        timer.phase("banner")
        caps = await _capability(imap)  # RFC 3501 6.2.1: forget what was said in clear text
    version = next((v for v in VERSIONS if v in caps), None)
    if version is None:
        raise ProbeFailure(ErrorKind.PROTOCOL, "the server does not speak IMAP4rev1")
    mechanism = None
    if credentials is not None:
        timer.phase("auth")
        if not imap.preauth:
            mechanism = await _authenticate(imap, credentials, caps)
        if "ID" in caps:
            # RFC 2971, only when announced; a server that answers BAD is tolerated (its
            # ID support is an extra, not what the probe measures).
            await imap.command("ID", '("name" "outagewatch")')
    return Session(greeting, version.replace("REV", "rev"), caps, mechanism)


async def _capability(imap: ImapConnection) -> frozenset[str]:
    response = await imap.command("CAPABILITY")
    expect_ok(response, "CAPABILITY")
    words = [word.upper() for word in response.words(b"CAPABILITY")]
    if not words:
        raise ProbeFailure(ErrorKind.PROTOCOL, "CAPABILITY answered without capabilities")
    return frozenset(words)


async def _starttls(imap: ImapConnection, caps: frozenset[str], tls: ssl.SSLContext) -> None:
    if imap.preauth:
        raise ProbeFailure(ErrorKind.TLS, "the server pre-authenticated the session in clear text")
    if "STARTTLS" not in caps:
        raise ProbeFailure(ErrorKind.TLS, "the server does not offer STARTTLS")
    expect_ok(await imap.command("STARTTLS"), "STARTTLS", ErrorKind.TLS)
    await imap.start_tls(tls)


async def _authenticate(
    imap: ImapConnection, credentials: Credentials, caps: frozenset[str]
) -> str:
    user, password = credentials.username, credentials.password
    wanted = credentials.mechanism
    use_login = wanted == "login" or (wanted is None and "LOGINDISABLED" not in caps)
    sasl = None
    command: tuple[str, ...]
    if use_login:
        if "LOGINDISABLED" in caps:
            raise ProbeFailure(ErrorKind.AUTH, "auth.mechanism is login but LOGINDISABLED")
        command = ("LOGIN", quoted(user), quoted(password))
        mechanism = "LOGIN"
    elif "AUTH=PLAIN" in caps:
        plain = base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")
        if "SASL-IR" in caps:  # RFC 4959: the response goes with the command
            command = ("AUTHENTICATE", "PLAIN", plain)
        else:
            command, sasl = ("AUTHENTICATE", "PLAIN"), plain.encode("ascii")
        mechanism = "AUTHENTICATE PLAIN"
    elif wanted == "plain":
        raise ProbeFailure(ErrorKind.AUTH, "auth.mechanism is plain but AUTH=PLAIN is not offered")
    else:
        raise ProbeFailure(
            ErrorKind.AUTH, "the server refuses LOGIN (LOGINDISABLED) and offers no AUTH=PLAIN"
        )
    expect_ok(await imap.command(*command, sasl=sasl), "login", ErrorKind.AUTH)
    return mechanism


async def select(imap: ImapConnection, mailbox: str) -> str:
    response = await imap.command("SELECT", quoted(mailbox))
    expect_ok(response, f"SELECT {one_line(mailbox, 40)}")
    for line in response.untagged:
        match = EXISTS.fullmatch(line)
        if match:
            count = int(match.group(1))
            return f"{count} message{'s' if count != 1 else ''}"
    return "message count not given"


async def logout(imap: ImapConnection) -> None:
    try:
        response = await imap.command("LOGOUT")
    except (ProbeFailure, OSError):
        # Some servers hang up right after their BYE: the session still ended properly.
        if imap.said_bye:
            return
        raise
    expect_ok(response, "LOGOUT")
