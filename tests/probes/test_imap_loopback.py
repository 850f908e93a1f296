"""The IMAP probe against servers started in the test: the login paths Dovecot does not take
on loopback, and servers that are broken or hostile.

Every server runs inside ``serve``, which checks on exit that the probe left nothing behind:
no task, and no socket or transport (those would warn when collected, and warnings fail).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gc
import logging
import re
import ssl
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from outagewatch.config import ImapService
from outagewatch.probes.imap import probe_imap
from outagewatch.probes.imap_client import (
    MAX_LINE,
    MAX_LINES,
    MAX_RECEIVED,
    MAX_UNTAGGED,
    quoted,
)
from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.probes.runner import Credentials, run_probe
from outagewatch.tls.contexts import TlsMode

CREDS = Credentials("probe@example.test", 'pa"ss\\word-Zq81xKv3')
LIMIT = 2.0
HANG_LIMIT = 0.3

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def serve(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Run ``handler`` for each connection to the yielded port on 127.0.0.1."""
    handlers: set[asyncio.Task[Any]] = set()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass  # by serve() on exit; ending cancelled makes 3.11's streams log an error
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(on_client, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()
    assert asyncio.all_tasks() == {asyncio.current_task()}, "the probe left a task running"
    gc.collect()  # an unclosed socket or transport warns here, and warnings are errors


async def forever() -> None:
    await asyncio.Event().wait()


@dataclass
class FakeImap:
    """A scripted IMAP server: answers the probe's commands, or hangs on one of them.

    ``hang_on`` names a command, or GREETING (none is sent) or HANDSHAKE (STARTTLS is
    accepted, TLS never starts); ``close_after`` a command after whose answer the server
    hangs up. ``answers`` replaces the answer to a command; ``{tag}`` in it is its tag.
    """

    caps: str = "IMAP4rev1 STARTTLS AUTH=PLAIN"
    greeting: bytes = b"* OK fake ready\r\n"
    tls: ssl.SSLContext | None = None
    hang_on: str | None = None
    close_after: str | None = None
    answers: dict[str, bytes] = field(default_factory=dict)
    received: list[str] = field(default_factory=list)

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.hang_on == "GREETING":
            await forever()
        writer.write(self.greeting)
        while line := await reader.readline():
            text = line.decode().rstrip("\r\n")
            self.received.append(text)
            tag, _, rest = text.partition(" ")
            name = rest.partition(" ")[0].upper()
            if name == self.hang_on:
                await forever()
            answer = self.answers.get(name, self.answer(name))
            if rest.upper() == "AUTHENTICATE PLAIN":  # no initial response: ask for it
                writer.write(b"+ \r\n")
                self.received.append((await reader.readline()).decode().rstrip("\r\n"))
            writer.write(answer.replace(b"{tag}", tag.encode()))
            await writer.drain()
            if name == "STARTTLS" and b" OK " in answer:
                if self.hang_on == "HANDSHAKE":
                    await forever()
                assert self.tls is not None
                await writer.start_tls(self.tls)
            if name in ("LOGOUT", self.close_after):
                return

    def answer(self, name: str) -> bytes:
        return {
            "CAPABILITY": f"* CAPABILITY {self.caps}\r\n{{tag}} OK done\r\n".encode(),
            "STARTTLS": b"{tag} OK begin TLS\r\n",
            "LOGIN": b"{tag} OK logged in\r\n",
            "AUTHENTICATE": b"{tag} OK logged in\r\n",
            "SELECT": b"* 2 EXISTS\r\n* 0 RECENT\r\n{tag} OK [READ-WRITE] selected\r\n",
            "LOGOUT": b"* BYE see you\r\n{tag} OK done\r\n",
        }.get(name, b"{tag} BAD unknown command\r\n")


def imap(port: int, tls: TlsMode = "none", ca_file: str | None = None) -> ImapService:
    return ImapService(
        protocol="imap",
        host="127.0.0.1",
        port=port,
        tls=tls,
        ca_file=Path(ca_file) if ca_file else None,
    )


async def probe(
    handler: Handler,
    tls: TlsMode = "none",
    *,
    ca_file: str | None = None,
    server_tls: ssl.SSLContext | None = None,
    limit: float = LIMIT,
    credentials: Credentials | None = CREDS,
) -> ProbeResult:
    async with serve(handler, server_tls) as port:
        return await run_probe(
            probe_imap, imap(port, tls, ca_file), limit=limit, credentials=credentials
        )


def secret_forms(creds: Credentials) -> list[str]:
    plain = f"\0{creds.username}\0{creds.password}".encode()
    return [
        creds.password,
        quoted(creds.password),
        base64.b64encode(plain).decode(),
        max(re.findall(r"[\w-]+", creds.password), key=len),
    ]


# -- the login paths -------------------------------------------------------------------


async def test_login_quotes_what_it_sends() -> None:
    server = FakeImap()

    result = await probe(server)

    assert result.ok, result.detail
    assert result.detail == "IMAP4rev1 ready (LOGIN), INBOX selected (2 messages)"
    login = next(line for line in server.received if " LOGIN " in line)
    assert login.endswith(' LOGIN "probe@example.test" "pa\\"ss\\\\word-Zq81xKv3"')
    assert [line.split(" ")[1] for line in server.received] == [
        "CAPABILITY",
        "LOGIN",
        "SELECT",
        "LOGOUT",
    ]


@pytest.mark.parametrize("sasl_ir", [True, False], ids=["sasl-ir", "continuation"])
async def test_logindisabled_means_authenticate_plain(sasl_ir: bool) -> None:
    server = FakeImap(caps="IMAP4rev1 LOGINDISABLED AUTH=PLAIN" + " SASL-IR" * sasl_ir)
    plain = base64.b64encode(b"\0probe@example.test\0" + CREDS.password.encode()).decode()

    result = await probe(server)

    assert result.ok, result.detail
    auth = [line for line in server.received if "AUTHENTICATE" in line]
    assert auth[0].endswith(f"AUTHENTICATE PLAIN {plain}" if sasl_ir else "AUTHENTICATE PLAIN")
    if not sasl_ir:
        assert server.received[server.received.index(auth[0]) + 1] == plain


async def test_no_way_to_log_in_is_an_auth_failure() -> None:
    server = FakeImap(caps="IMAP4rev1 LOGINDISABLED")

    result = await probe(server)

    assert result.error_kind == ErrorKind.AUTH
    assert "LOGINDISABLED" in result.detail
    assert all(CREDS.password not in line for line in server.received)


async def test_login_rejected() -> None:
    server = FakeImap(answers={"LOGIN": b"{tag} NO [AUTHENTICATIONFAILED] nope\r\n"})

    result = await probe(server)

    assert result.error_kind == ErrorKind.AUTH
    assert result.detail == "login rejected: [AUTHENTICATIONFAILED] nope (during auth)"


@pytest.mark.parametrize(
    ("caps", "login_answer"),
    [
        ("IMAP4rev1", b"{tag} OK in\r\n"),
        ("IMAP4rev1 LOGINDISABLED AUTH=PLAIN SASL-IR", b"{tag} OK in\r\n"),
        ("IMAP4rev1 LOGINDISABLED AUTH=PLAIN", b"{tag} OK in\r\n"),
        ("IMAP4rev1", b"+ go on\r\n"),  # a continuation request in the middle of LOGIN
        ("IMAP4rev1", b"XYZ9 OK not your tag\r\n"),  # an answer to no command sent
        ("IMAP4rev1", b"{tag} NO wrong\r\n"),
    ],
)
async def test_password_never_logged(
    caps: str, login_answer: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    server = FakeImap(caps=caps, answers={"LOGIN": login_answer, "AUTHENTICATE": login_answer})

    result = await probe(server)

    assert caplog.text  # DEBUG records were captured
    for form in secret_forms(CREDS):
        assert form not in caplog.text
        assert form not in result.detail


async def test_id_answered_with_a_literal() -> None:
    identity = b'* ID ("name" {7}\r\nDovecot "version" "2.3")\r\n{tag} OK ID completed\r\n'
    server = FakeImap(caps="IMAP4rev1 ID AUTH=PLAIN", answers={"ID": identity})

    result = await probe(server)

    assert result.ok, result.detail
    names = [line.split(" ")[1] for line in server.received]
    assert names == ["CAPABILITY", "LOGIN", "ID", "SELECT", "LOGOUT"]


async def test_preauth_skips_login() -> None:
    server = FakeImap(greeting=b"* PREAUTH welcome back\r\n")

    result = await probe(server)

    assert result.ok, result.detail
    assert not any(" LOGIN " in line for line in server.received)


async def test_preauth_before_starttls_is_a_tls_failure() -> None:
    result = await probe(FakeImap(greeting=b"* PREAUTH hi\r\n"), "starttls")

    assert result.error_kind == ErrorKind.TLS
    assert "pre-authenticated" in result.detail


async def test_starttls_not_offered(ca_file: str) -> None:
    result = await probe(FakeImap(caps="IMAP4rev1"), "starttls", ca_file=ca_file)

    assert result.error_kind == ErrorKind.TLS
    assert result.detail == "the server does not offer STARTTLS (during tls)"


async def test_starttls_then_capability_again(ca_file: str, server_tls: ssl.SSLContext) -> None:
    server = FakeImap(tls=server_tls)

    result = await probe(server, "starttls", ca_file=ca_file)

    assert result.ok, result.detail
    names = [line.split(" ")[1] for line in server.received]
    assert names == ["CAPABILITY", "STARTTLS", "CAPABILITY", "LOGIN", "SELECT", "LOGOUT"]
    assert list(result.phases) == ["dns", "connect", "banner", "tls", "auth", "command", "logout"]


async def test_implicit_tls(ca_file: str, server_tls: ssl.SSLContext) -> None:
    result = await probe(FakeImap(), "implicit", ca_file=ca_file, server_tls=server_tls)

    assert result.ok, result.detail
    assert list(result.phases) == ["dns", "connect", "tls", "banner", "auth", "command", "logout"]


async def test_clear_text_after_starttls_ok_is_refused(
    ca_file: str, server_tls: ssl.SSLContext
) -> None:
    injected = b"{tag} OK begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"
    server = FakeImap(tls=server_tls, answers={"STARTTLS": injected})

    result = await probe(server, "starttls", ca_file=ca_file)

    assert result.error_kind == ErrorKind.PROTOCOL
    assert "clear text after accepting STARTTLS" in result.detail


async def test_select_rejected() -> None:
    result = await probe(FakeImap(answers={"SELECT": b"{tag} NO no such mailbox\r\n"}))

    assert result.error_kind == ErrorKind.PROTOCOL
    assert result.detail == "SELECT INBOX rejected: no such mailbox (during command)"


async def test_logout_answered_by_hanging_up_after_bye() -> None:
    result = await probe(FakeImap(answers={"LOGOUT": b"* BYE gone\r\n"}))

    assert result.ok, result.detail


async def test_not_imap4rev1() -> None:
    result = await probe(FakeImap(caps="IMAP2 AUTH=PLAIN"))

    assert result.error_kind == ErrorKind.PROTOCOL
    assert "IMAP4rev1" in result.detail


async def test_without_credentials() -> None:
    server = FakeImap(greeting=b"* OK [CAPABILITY IMAP4rev1] Fake ready.\r\n")

    result = await probe(server, credentials=None)

    assert result.ok, result.detail
    assert result.detail == "IMAP4rev1 ready, greeting 'Fake ready.'"
    assert [line.split(" ")[1] for line in server.received] == ["CAPABILITY", "LOGOUT"]


# -- broken and hostile servers --------------------------------------------------------


def sends(*chunks: bytes, delay: float = 0.0, then: str = "wait") -> Handler:
    """A server that sends ``chunks`` (pausing ``delay`` before each), then waits or closes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for chunk in chunks:
            await asyncio.sleep(delay)
            writer.write(chunk)
            await writer.drain()
        if then == "wait":
            await reader.read()  # until the probe hangs up

    return handler


@pytest.mark.parametrize(
    ("handler", "detail"),
    [
        (sends(b"\x00\xff\xfeHELO garbage\r\n"), "not an IMAP greeting: '"),
        (sends(b"HTTP/1.1 400 Bad Request\r\n\r\n"), "not an IMAP greeting: 'HTTP/1.1 400"),
        (sends(b"* BYE too many connections\r\n"), "refused the session: too many connections"),
        (sends(b"* OK Dove", then="close"), "closed the connection after '* OK Dove'"),
        (sends(b"", then="close"), "closed the connection (during banner)"),
        (sends(b"* OK " + b"x" * (1 << 20)), f"line longer than {MAX_LINE} bytes"),
    ],
    ids=["binary", "http", "bye", "closed-mid-greeting", "closed-at-once", "1mib-line"],
)
@pytest.mark.solo
async def test_bad_greeting_is_a_protocol_failure(handler: Handler, detail: str) -> None:
    result = await probe(handler)

    assert result.error_kind == ErrorKind.PROTOCOL
    assert detail in result.detail
    assert result.duration < 1


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (b"\r\n" * (MAX_LINES + 1), f"sent more than {MAX_LINES} lines"),
        (
            b"* 1 EXPUNGE\r\n" * (MAX_UNTAGGED + 1),
            f"sent more than {MAX_UNTAGGED} untagged lines in one answer",
        ),
        (b"* 1 FETCH {99999999}\r\n" + b"x" * MAX_RECEIVED, f"sent more than {MAX_RECEIVED} bytes"),
        (b"* 2 EXISTS\r\n* 0 RE", "closed the connection after '* 0 RE'"),
    ],
    ids=["line-flood", "untagged-flood", "huge-literal", "closed-mid-reply"],
)
@pytest.mark.solo
async def test_bad_answer_is_a_protocol_failure(answer: bytes, detail: str) -> None:
    server = FakeImap(answers={"SELECT": answer}, close_after="SELECT")

    result = await probe(server)

    assert result.error_kind == ErrorKind.PROTOCOL
    assert result.detail == f"the server {detail} (during command)"
    assert result.duration < 1


async def test_endless_line_is_cut_off_in_bounded_memory() -> None:
    chunk = b"x" * 65536

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"* OK ")
        while True:
            writer.write(chunk)
            await writer.drain()

    tracemalloc.start()
    try:
        result = await probe(endless)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.error_kind == ErrorKind.PROTOCOL
    assert f"line longer than {MAX_LINE} bytes" in result.detail
    assert peak < 4 * 1024 * 1024


@pytest.mark.solo
async def test_a_byte_per_second_ends_at_the_limit() -> None:
    trickle = sends(*(bytes([b]) for b in b"* OK slow server\r\n"), delay=1.0)

    result = await probe(trickle, limit=2.0)

    assert result.error_kind == ErrorKind.TIMEOUT
    assert result.detail == "no complete answer within 2s (during banner)"
    assert 2.0 <= result.duration < 2.5


@pytest.mark.parametrize(
    ("hang_on", "phase"),
    [
        ("GREETING", "banner"),
        ("CAPABILITY", "banner"),
        ("STARTTLS", "tls"),
        ("HANDSHAKE", "tls"),
        ("LOGIN", "auth"),
        ("SELECT", "command"),
        ("LOGOUT", "logout"),
    ],
)
async def test_hang_at_any_step_is_a_timeout(
    hang_on: str, phase: str, ca_file: str, server_tls: ssl.SSLContext
) -> None:
    server = FakeImap(hang_on=hang_on, tls=server_tls)

    result = await probe(server, "starttls", ca_file=ca_file, limit=HANG_LIMIT)

    assert result.error_kind == ErrorKind.TIMEOUT
    assert result.detail.endswith(f"(during {phase})")


async def test_hang_in_implicit_tls_handshake_is_a_timeout(ca_file: str) -> None:
    result = await probe(sends(), "implicit", ca_file=ca_file, limit=HANG_LIMIT)

    assert result.error_kind == ErrorKind.TIMEOUT
    assert result.detail.endswith("(during tls)")


async def test_implicit_tls_to_a_clear_text_server_is_a_tls_failure(ca_file: str) -> None:
    result = await probe(sends(b"* OK plain text here\r\n"), "implicit", ca_file=ca_file)

    assert result.error_kind == ErrorKind.TLS
    assert result.detail.endswith("(during tls)")
