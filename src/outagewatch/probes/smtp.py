"""SMTP probe: banner 220, EHLO, STARTTLS if configured, AUTH if configured, NOOP, QUIT.

aiosmtplib does the talking on a socket we connected ourselves, so DNS and connect are timed
on their own. With implicit TLS, aiosmtplib performs the handshake and reads the banner in
one call: the ``banner`` phase then includes the TLS handshake.
"""

from __future__ import annotations

import asyncio
import socket
import ssl

import aiosmtplib

from outagewatch.config import SmtpService
from outagewatch.probes.net import connect
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.probes.runner import Credentials
from outagewatch.probes.text import one_line
from outagewatch.tls import client_context, handshake_of_transport

# aiosmtplib would look up our FQDN for EHLO (a reverse DNS query) on every probe.
EHLO_NAME = socket.gethostname() or "outagewatch.localdomain"
S220_READY = 220
S221_CLOSING = 221


async def probe_smtp(
    service: SmtpService, credentials: Credentials | None, timer: PhaseTimer
) -> str:
    tls = client_context(verify=service.tls_verify, ca_file=service.ca_file)
    sock = await connect(service.host, service.effective_port, timer)
    client = aiosmtplib.SMTP(
        hostname=service.host,
        sock=sock,
        use_tls=service.tls == "implicit",
        start_tls=False,
        tls_context=tls,
        local_hostname=service.ehlo_name or EHLO_NAME,
        timeout=None,  # the runner's probe_timeout bounds the whole transaction
    )
    try:
        return await _transaction(client, service, credentials, timer, tls)
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
        raise ProbeFailure(ErrorKind.PROTOCOL, "the server closed the connection") from None
    finally:
        # Abort rather than close: a graceful TLS shutdown would keep the socket open for a
        # server that may never answer it. asyncio owns ``sock`` from connect() on.
        if isinstance(client.transport, asyncio.Transport):
            client.transport.abort()
        client.close()


async def _transaction(
    client: aiosmtplib.SMTP,
    service: SmtpService,
    credentials: Credentials | None,
    timer: PhaseTimer,
    tls: ssl.SSLContext,
) -> str:
    timer.phase("banner")
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
    if credentials is not None:
        timer.phase("auth")
        if not client.supports_extension("auth"):
            raise ProbeFailure(ErrorKind.AUTH, "the server offers no AUTH")
        await client.login(credentials.username, credentials.password)
    timer.phase("command")
    await client.noop()
    timer.phase("quit")
    bye = await client.execute_command(b"QUIT")
    if bye.code != S221_CLOSING:
        raise ProbeFailure(ErrorKind.PROTOCOL, f"QUIT answered {bye.code} {one_line(bye.message)}")
    return f"banner {one_line(banner.message, 80)!r}"


def _text(exc: aiosmtplib.SMTPResponseException) -> str:
    return one_line(exc.message, 120)
