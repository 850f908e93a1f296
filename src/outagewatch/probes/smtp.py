"""SMTP probe: banner 220, EHLO, STARTTLS if configured, AUTH if configured, NOOP, QUIT.

aiosmtplib does the talking on a socket we connected ourselves, so DNS and connect are timed
on their own. With implicit TLS, aiosmtplib performs the handshake and reads the banner in
one call: the ``banner`` phase then includes the TLS handshake. Replies are read within a
budget of line length and lines (smtp_replies.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiosmtplib

from outagewatch.config import SmtpService
from outagewatch.probes.net import connect
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.probes.runner import Credentials
from outagewatch.probes.smtp_replies import BoundedSMTP
from outagewatch.text import one_line
from outagewatch.tls.contexts import client_context
from outagewatch.tls.handshake import handshake_of_transport

# aiosmtplib would look up our FQDN for EHLO (a reverse DNS query) on every probe.
EHLO_NAME = socket.gethostname() or "outagewatch.localdomain"
S220_READY = 220
S221_CLOSING = 221


async def probe_smtp(
    service: SmtpService, credentials: Credentials | None, timer: PhaseTimer
) -> str:
    async with smtp_session(service, credentials, timer) as session:
        timer.phase("command")
        await session.client.noop()
        await quit_session(session.client, timer)
        return f"banner {session.banner!r}{session.how}"


@dataclass(frozen=True)
class Session:
    client: aiosmtplib.SMTP
    banner: str
    mechanism: str | None  # the SASL mechanism it logged in with

    @property
    def how(self) -> str:
        return f", auth {self.mechanism}" if self.mechanism else ""


@contextlib.asynccontextmanager
async def smtp_session(
    service: SmtpService, credentials: Credentials | None, timer: PhaseTimer
) -> AsyncIterator[Session]:
    """Banner, EHLO, STARTTLS and AUTH as configured; SMTP errors inside the block become
    classified failures, and the connection is dropped when it ends."""
    tls = client_context(verify=service.tls_verify, ca_file=service.ca_file)
    sock = await connect(service.host, service.effective_port, timer)
    client = BoundedSMTP(
        hostname=service.host,
        sock=sock,
        use_tls=service.tls == "implicit",
        start_tls=False,
        tls_context=tls,
        local_hostname=service.ehlo_name or EHLO_NAME,
        timeout=None,  # the runner's probe_timeout bounds the whole transaction
    )
    try:
        yield await _start(client, service, credentials, timer, tls)
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise ProbeFailure(ErrorKind.AUTH, f"login rejected: {exc.code} {_text(exc)}") from None
    except aiosmtplib.SMTPConnectResponseError as exc:
        raise ProbeFailure(ErrorKind.PROTOCOL, f"banner {exc.code} {_text(exc)}") from None
    except aiosmtplib.SMTPResponseException as exc:
        raise ProbeFailure(ErrorKind.PROTOCOL, f"answer {exc.code} {_text(exc)}") from None
    except aiosmtplib.SMTPConnectError as exc:
        # aiosmtplib wraps the cause (a TLS error, a reset) in its own exception.
        if isinstance(exc.__cause__, ssl.SSLError):
            raise exc.__cause__ from None
        raise ProbeFailure(ErrorKind.PROTOCOL, one_line(str(exc))) from None
    except aiosmtplib.SMTPServerDisconnected:
        closed = client.budget.exceeded or "the server closed the connection"
        raise ProbeFailure(ErrorKind.PROTOCOL, closed) from None
    finally:
        # Abort rather than close: a graceful TLS shutdown would keep the socket open for a
        # server that may never answer it. asyncio owns ``sock`` from connect() on.
        if isinstance(client.transport, asyncio.Transport):
            client.transport.abort()
        client.close()


async def _start(
    client: aiosmtplib.SMTP,
    service: SmtpService,
    credentials: Credentials | None,
    timer: PhaseTimer,
    tls: ssl.SSLContext,
) -> Session:
    timer.phase("banner")
    # aiosmtplib reads a multi-line greeting to its last line ("220 " after "220-"): no
    # EHLO goes out early, which postscreen would punish as a pregreet.
    banner = await client.connect()
    if service.tls == "implicit":
        timer.saw_tls(handshake_of_transport(client.transport))
    if banner.code != S220_READY:  # aiosmtplib raises for this too; kept for the contract
        raise ProbeFailure(ErrorKind.PROTOCOL, f"banner {banner.code} {one_line(banner.message)}")
    timer.phase("ehlo")
    await client.ehlo()
    if service.tls == "starttls":
        timer.phase("tls")
        if not client.supports_extension("starttls"):
            raise ProbeFailure(ErrorKind.TLS, "the server does not offer STARTTLS")
        await client.starttls(tls_context=tls)
        timer.saw_tls(handshake_of_transport(client.transport))
        timer.phase("ehlo")
        await client.ehlo()
    mechanism = None
    if credentials is not None:
        timer.phase("auth")
        mechanism = await _login(client, credentials)
    return Session(client, one_line(banner.message, 80), mechanism)


async def _login(client: aiosmtplib.SMTP, credentials: Credentials) -> str:
    if not client.supports_extension("auth"):
        raise ProbeFailure(ErrorKind.AUTH, "the server offers no AUTH")
    offered = {m.upper() for m in client.server_auth_methods}
    wanted = credentials.mechanism.upper() if credentials.mechanism else None
    if wanted is not None and wanted not in offered:
        raise ProbeFailure(ErrorKind.AUTH, f"the server does not offer AUTH {wanted}")
    mechanism = wanted or next((m for m in ("PLAIN", "LOGIN") if m in offered), None)
    user, password = credentials.username, credentials.password
    if mechanism == "PLAIN":
        await client.auth_plain(user, password)
    elif mechanism == "LOGIN":
        await client.auth_login(user, password)
    else:  # neither offered: aiosmtplib picks among what it knows (CRAM-MD5, XOAUTH2)
        await client.login(user, password)
        mechanism = "chosen by aiosmtplib"
    return mechanism


async def quit_session(client: aiosmtplib.SMTP, timer: PhaseTimer) -> None:
    timer.phase("quit")
    bye = await client.execute_command(b"QUIT")
    if bye.code != S221_CLOSING:
        raise ProbeFailure(ErrorKind.PROTOCOL, f"QUIT answered {bye.code} {one_line(bye.message)}")


def _text(exc: aiosmtplib.SMTPResponseException) -> str:
    return one_line(exc.message, 120)
