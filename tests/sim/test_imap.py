"""IMAP simulator with aioimaplib (plain and implicit TLS) and raw streams (STARTTLS, syntax)."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator

import aioimaplib
import pytest

from outagewatch.sim import ImapServer
from outagewatch.sim.lines import MAX_LINE
from outagewatch.tls.contexts import TlsMode
from tests.sim.simhelpers import PASSWORD, USER, USERS, raw_client


@pytest.fixture
async def imap() -> AsyncIterator[ImapServer]:
    async with ImapServer(users=USERS) as server:
        yield server


def _client(server: ImapServer, implicit: bool, client_tls: ssl.SSLContext) -> aioimaplib.IMAP4:
    if implicit:
        return aioimaplib.IMAP4_SSL(
            host=server.host, port=server.port, ssl_context=client_tls, timeout=3
        )
    return aioimaplib.IMAP4(host=server.host, port=server.port, timeout=3)


@pytest.mark.parametrize("implicit", [False, True], ids=["none", "implicit"])
async def test_aioimaplib_login_select_logout(
    implicit: bool, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    tls: TlsMode = "implicit" if implicit else "none"
    context = server_tls if implicit else None
    async with ImapServer(tls=tls, ssl_context=context, users=USERS) as server:
        client = _client(server, implicit, client_tls)
        await client.wait_hello_from_server()
        assert "AUTH=PLAIN" in client.protocol.capabilities
        assert (await client.login(USER, "wrong")).result == "NO"
        assert (await client.login(USER, PASSWORD)).result == "OK"
        selected = await client.select("INBOX")
        assert selected.result == "OK"
        assert b"0 EXISTS" in selected.lines
        assert selected.lines[-1] == b"[READ-WRITE] SELECT completed"
        assert (await client.logout()).result == "OK"


async def test_reject_login_refuses_right_credentials(
    imap: ImapServer, client_tls: ssl.SSLContext
) -> None:
    imap.faults.reject_login = True
    client = _client(imap, False, client_tls)
    await client.wait_hello_from_server()
    response = await client.login(USER, PASSWORD)
    assert response.result == "NO"
    assert b"[AUTHENTICATIONFAILED]" in response.lines[-1]
    await client.logout()


async def test_starttls_then_login(server_tls: ssl.SSLContext, client_tls: ssl.SSLContext) -> None:
    async with (
        ImapServer(tls="starttls", ssl_context=server_tls, users=USERS) as server,
        raw_client(server) as client,
    ):
        greeting = await client.line()
        assert b"STARTTLS" in greeting
        assert await client.command("a1 STARTTLS") == b"a1 OK Begin TLS negotiation now\r\n"
        await client.start_tls(client_tls)
        capability = await client.command("a2 CAPABILITY")
        assert capability.startswith(b"* CAPABILITY IMAP4rev1")
        assert b"STARTTLS" not in capability
        assert (await client.line()).startswith(b"a2 OK")
        assert await client.command("a3 STARTTLS") == b"a3 BAD STARTTLS not available\r\n"
        login = await client.command(f'a4 LOGIN {USER} "{PASSWORD}"')
        assert login == b"a4 OK LOGIN completed\r\n"


async def test_authenticate_plain_with_continuation_and_initial_response(
    imap: ImapServer,
) -> None:
    token = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    async with raw_client(imap) as first, raw_client(imap) as second:
        await first.line()
        assert await first.command("a1 AUTHENTICATE PLAIN") == b"+ \r\n"
        assert await first.command(token) == b"a1 OK AUTHENTICATE completed\r\n"
        await second.line()
        reply = await second.command(f"b1 AUTHENTICATE PLAIN {token}")
        assert reply == b"b1 OK AUTHENTICATE completed\r\n"


async def test_login_with_quoted_and_literal_arguments() -> None:
    password = 'with "quotes" and \\ spaces'
    async with ImapServer(users={USER: password}) as server, raw_client(server) as client:
        await client.line()
        assert await client.command(f"a1 LOGIN {{{len(USER)}}}") == b"+ Ready for literal data\r\n"
        await client.send(USER + ' "with \\"quotes\\" and \\\\ spaces"')
        assert await client.line() == b"a1 OK LOGIN completed\r\n"


async def test_select_needs_login_and_unknown_commands_are_bad(imap: ImapServer) -> None:
    async with raw_client(imap) as client:
        await client.line()
        assert (await client.command("a1 SELECT INBOX")).startswith(b"a1 BAD")
        assert (await client.command("a2 FETCH 1 BODY[]")).startswith(b"a2 BAD")
        assert (await client.command("a3")).startswith(b"a3 BAD")
        assert (await client.command('a4 LOGIN "unterminated')).startswith(b"* BAD")
        assert (await client.command("a5 NOOP")) == b"a5 OK NOOP completed\r\n"


async def test_bad_banner_is_bye(imap: ImapServer) -> None:
    imap.faults.bad_banner = True
    async with raw_client(imap) as client:
        assert await client.line() == b"* BYE server unavailable\r\n"
        assert await client.line() == b""  # and the server closed the connection


async def test_a_line_longer_than_the_limit_closes_the_connection(imap: ImapServer) -> None:
    async with raw_client(imap) as client:
        await client.line()
        client.writer.write(b"a" * (MAX_LINE + 10))
        assert await client.line() == b"* BYE line too long\r\n"
        assert await client.line() == b""
    await asyncio.wait_for(imap.wait_until_idle(), 2)


async def test_without_users_login_is_disabled() -> None:
    async with ImapServer() as server, raw_client(server) as client:
        greeting = await client.line()
        assert b"LOGINDISABLED" in greeting
        assert b"AUTH=PLAIN" not in greeting
        assert (await client.command("a1 LOGIN someone secret")).startswith(b"a1 NO")
