"""Probe correctness against real servers' habits: IMAP ID only when announced (a BAD
answer tolerated), the SASL mechanism chosen by config and reported, and the whole
multi-line SMTP greeting read before EHLO (postscreen drops clients that talk early)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from outagewatch.config import SmtpService
from outagewatch.probes import PROBES, Credentials, ErrorKind, run_probe
from outagewatch.probes.result import PhaseTimer
from outagewatch.sim import SmtpServer
from tests.probes.test_imap_loopback import CREDS, FakeImap, probe, serve
from tests.probes.test_probes_vs_sim import PASSWORD, USER


def names(server: FakeImap) -> list[str]:
    return [line.split(" ")[1] for line in server.received if " " in line]


async def test_imap_id_only_when_announced() -> None:
    silent = FakeImap()
    assert (await probe(silent)).ok
    assert "ID" not in names(silent)
    announced = FakeImap(caps="IMAP4rev1 ID AUTH=PLAIN")  # answers ID with BAD
    result = await probe(announced)
    assert result.ok, result.detail
    assert names(announced) == ["CAPABILITY", "LOGIN", "ID", "SELECT", "LOGOUT"]


@pytest.mark.parametrize(
    ("mechanism", "sent", "reported"),
    [("plain", "AUTHENTICATE", "AUTHENTICATE PLAIN"), ("login", "LOGIN", "LOGIN")],
)
async def test_imap_mechanism_from_config(mechanism: str, sent: str, reported: str) -> None:
    server = FakeImap(caps="IMAP4rev1 AUTH=PLAIN SASL-IR")
    result = await probe(server, credentials=dataclasses.replace(CREDS, mechanism=mechanism))
    assert result.ok, result.detail
    assert sent in names(server) and f"({reported})" in result.detail


async def test_imap_plain_demanded_but_not_offered() -> None:
    server = FakeImap(caps="IMAP4rev1")
    result = await probe(server, credentials=dataclasses.replace(CREDS, mechanism="plain"))
    assert result.error_kind is ErrorKind.AUTH and "AUTH=PLAIN" in result.detail


@pytest.mark.parametrize("mechanism", ["plain", "login"])
async def test_smtp_mechanism_from_config(mechanism: str, ca_file: str) -> None:
    async with SmtpServer(users={USER: PASSWORD}) as server:
        service = SmtpService(protocol="smtp", host="127.0.0.1", port=server.port)
        result = await run_probe(
            PROBES["smtp"], service, limit=5,
            credentials=Credentials(USER, PASSWORD, mechanism=mechanism),
        )  # fmt: skip
    assert result.ok, result.detail
    assert f"auth {mechanism.upper()}" in result.detail


async def test_smtp_reads_the_whole_greeting_before_ehlo() -> None:
    """Like postscreen: the first greeting line, a pause, the last line; talking in the
    pause is a pregreet violation."""
    early: list[bytes] = []
    pause = asyncio.Event()

    async def postscreen(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220-mx.example.test ESMTP checking\r\n")
        await writer.drain()
        try:
            early.append(await asyncio.wait_for(reader.read(100), 0.3))
        except TimeoutError:
            pause.set()
        writer.write(b"220 mx.example.test ESMTP ready\r\n")
        await writer.drain()
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb == b"EHLO":
                writer.write(b"250-mx.example.test\r\n250 8BITMIME\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()

    async with serve(postscreen) as port:
        service = SmtpService(protocol="smtp", host="127.0.0.1", port=port)
        result = await run_probe(PROBES["smtp"], service, limit=5)
    assert result.ok, result.detail
    assert pause.is_set() and early == []
    assert "ready" in result.detail


async def test_a_slow_local_set_up_does_not_shorten_the_servers_time(ca_file: str) -> None:
    """The limit counts from the transaction's first step, where the stopwatch starts: a
    busy host that takes 0.3 s to build what the probe needs (a TLS context, say) neither
    takes that time from a hanging server nor reports a timeout shorter than the limit."""

    async def slow_set_up_then_smtp(
        service: SmtpService, credentials: Credentials | None, timer: PhaseTimer
    ) -> str:
        await asyncio.sleep(0.3)  # local set-up: before the first phase, off the stopwatch
        return await PROBES["smtp"](service, credentials, timer)

    async with SmtpServer() as server:
        server.faults.hang = True
        service = SmtpService(protocol="smtp", host="127.0.0.1", port=server.port)
        result = await run_probe(slow_set_up_then_smtp, service, limit=0.5)
    assert result.error_kind is ErrorKind.TIMEOUT, result.detail
    assert 0.5 <= result.duration < 1.0, result.duration
