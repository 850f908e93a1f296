"""POP3 probe: greeting, STLS or implicit TLS, USER/PASS, STAT, QUIT (RFC 1939, RFC 2595).

No maintained asyncio POP3 client exists, so this speaks the few commands itself.
"""

from __future__ import annotations

import ssl

from outagewatch.config import Pop3Service
from outagewatch.probes.lines import LineConnection
from outagewatch.probes.net import connect
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.probes.runner import Credentials
from outagewatch.text import one_line
from outagewatch.tls.contexts import client_context
from outagewatch.tls.handshake import handshake_of_transport


async def probe_pop3(
    service: Pop3Service, credentials: Credentials | None, timer: PhaseTimer
) -> str:
    tls = client_context(verify=service.tls_verify, ca_file=service.ca_file)
    sock = await connect(service.host, service.effective_port, timer)
    if service.tls == "implicit":
        timer.phase("tls")
    try:
        conn = await LineConnection.open(
            sock, tls if service.tls == "implicit" else None, service.host
        )
    except BaseException:
        sock.close()
        raise
    timer.saw_tls(handshake_of_transport(conn.writer.transport))
    try:
        return await _transaction(conn, service, credentials, timer, tls)
    finally:
        conn.abort()


async def _transaction(
    conn: LineConnection,
    service: Pop3Service,
    credentials: Credentials | None,
    timer: PhaseTimer,
    tls: ssl.SSLContext,
) -> str:
    timer.phase("banner")
    greeting = await _expect_ok(conn, "greeting", ErrorKind.PROTOCOL)
    if service.tls == "starttls":
        timer.phase("tls")
        await conn.send("STLS")
        await _expect_ok(conn, "STLS", ErrorKind.TLS)
        await conn.start_tls(tls, service.host, "STLS")
        timer.saw_tls(handshake_of_transport(conn.writer.transport))
    detail = f"greeting {greeting!r}"
    if credentials is not None:
        timer.phase("auth")
        await conn.send(f"USER {credentials.username}")
        await _expect_ok(conn, "USER", ErrorKind.AUTH)
        await conn.send(f"PASS {credentials.password}")
        await _expect_ok(conn, "login", ErrorKind.AUTH)
        timer.phase("command")
        await conn.send("STAT")
        stat = await _expect_ok(conn, "STAT", ErrorKind.PROTOCOL)
        detail = f"maildrop {stat}"
    timer.phase("quit")
    await conn.send("QUIT")
    await _expect_ok(conn, "QUIT", ErrorKind.PROTOCOL)
    return detail


async def _expect_ok(conn: LineConnection, step: str, kind: ErrorKind) -> str:
    line = await conn.readline()
    if line.startswith("+OK"):
        return one_line(line[3:].strip(), 80)
    if line.startswith("-ERR"):
        raise ProbeFailure(kind, f"{step} rejected: {one_line(line[4:].strip(), 120)}")
    raise ProbeFailure(ErrorKind.PROTOCOL, f"{step}: not a POP3 answer: {one_line(line, 80)!r}")
