"""The POP3 probe's STLS against servers started in the test: one that behaves, and one whose
clear text after its go-ahead would pass for answers over TLS."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from outagewatch.config import Pop3Service
from outagewatch.probes.pop3 import probe_pop3
from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.probes.runner import Credentials, run_probe
from tests.probes.test_imap_loopback import Handler, serve

CREDS = Credentials("probe@example.test", "Zq81xKv3-secret")


def stls_server(tls: ssl.SSLContext, go_ahead: bytes, received: list[str]) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"+OK fake POP3 ready\r\n")
        while line := await reader.readline():
            command = line.decode().rstrip("\r\n")
            received.append(command.split(" ")[0])
            if command == "STLS":
                writer.write(go_ahead)
                await writer.drain()
                await writer.start_tls(tls)
                continue
            writer.write(b"+OK 2 320\r\n" if command == "STAT" else b"+OK\r\n")
            await writer.drain()
            if command == "QUIT":
                return

    return handler


async def probe(handler: Handler, ca_file: str) -> ProbeResult:
    async with serve(handler) as port:
        service = Pop3Service(
            protocol="pop3", host="127.0.0.1", port=port, tls="starttls", ca_file=Path(ca_file)
        )
        return await run_probe(probe_pop3, service, limit=2.0, credentials=CREDS)


async def test_stls_then_the_session_over_tls(ca_file: str, server_tls: ssl.SSLContext) -> None:
    received: list[str] = []

    result = await probe(stls_server(server_tls, b"+OK begin TLS\r\n", received), ca_file)

    assert result.ok, result.detail
    assert result.detail == "maildrop 2 320"
    assert received == ["STLS", "USER", "PASS", "STAT", "QUIT"]


async def test_clear_text_after_the_stls_go_ahead_is_refused(
    ca_file: str, server_tls: ssl.SSLContext
) -> None:
    received: list[str] = []
    injected = b"+OK begin TLS\r\n+OK injected: no password needed\r\n"

    result = await probe(stls_server(server_tls, injected, received), ca_file)

    assert result.error_kind == ErrorKind.PROTOCOL
    assert result.detail == "the server sent clear text after accepting STLS (during tls)"
    assert received == ["STLS"]  # nothing, least of all the password, went out after it
