"""IMAP probe: greeting, STARTTLS or implicit TLS, LOGIN (or AUTHENTICATE PLAIN), ID when
announced, SELECT, LOGOUT. The client underneath (aioimaplib, made strict and bounded) is in
imap_client.py; the session set-up here is shared with the round trip.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aioimaplib

from outagewatch.config import ImapService
from outagewatch.probes.imap_client import ImapClient, ImapProtocol
from outagewatch.probes.net import connect
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.probes.runner import Credentials
from outagewatch.probes.text import one_line
from outagewatch.tls import client_context, handshake_of_transport

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
