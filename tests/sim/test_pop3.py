"""POP3 simulator with a real client (poplib, in a thread) in each TLS mode, and raw streams."""

from __future__ import annotations

import asyncio
import poplib
import ssl

import pytest

from outagewatch.sim import Faults, Pop3Server
from outagewatch.tls.contexts import TlsMode
from tests.sim.simhelpers import PASSWORD, USER, USERS, raw_client


def _poplib_session(
    server: Pop3Server, mode: TlsMode, client_tls: ssl.SSLContext, password: str
) -> tuple[dict[str, list[str]], tuple[int, int]]:
    """The probe's walk with the standard library: capabilities, login, STAT, QUIT."""
    client: poplib.POP3
    if mode == "implicit":
        client = poplib.POP3_SSL(server.host, server.port, context=client_tls, timeout=3)
    else:
        client = poplib.POP3(server.host, server.port, timeout=3)
    try:
        capabilities = client.capa()
        if mode == "starttls":
            client.stls(client_tls)
        client.user(USER)
        client.pass_(password)
        return capabilities, client.stat()
    finally:
        client.quit()


@pytest.mark.parametrize("mode", ["none", "starttls", "implicit"])
async def test_poplib_login_and_stat(
    mode: TlsMode, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    context = None if mode == "none" else server_tls
    async with Pop3Server(tls=mode, ssl_context=context, users=USERS) as server:
        capabilities, stat = await asyncio.to_thread(
            _poplib_session, server, mode, client_tls, PASSWORD
        )
    assert "USER" in capabilities
    assert ("STLS" in capabilities) == (mode == "starttls")
    assert stat == (0, 0)


@pytest.mark.parametrize("mode", ["none", "starttls", "implicit"])
async def test_a_wrong_password_is_refused(
    mode: TlsMode, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    context = None if mode == "none" else server_tls
    async with Pop3Server(tls=mode, ssl_context=context, users=USERS) as server:
        with pytest.raises(poplib.error_proto, match="invalid"):
            await asyncio.to_thread(_poplib_session, server, mode, client_tls, "wrong")


async def test_reject_login_refuses_right_credentials() -> None:
    async with Pop3Server(users=USERS) as server, raw_client(server) as client:
        server.faults.reject_login = True
        await client.line()
        assert (await client.command(f"USER {USER}")).startswith(b"+OK")
        assert (await client.command(f"PASS {PASSWORD}")).startswith(b"-ERR [AUTH]")
        assert (await client.command("STAT")).startswith(b"-ERR")


async def test_commands_outside_their_state() -> None:
    async with Pop3Server(users=USERS) as server, raw_client(server) as client:
        await client.line()
        assert (await client.command("STAT")) == b"-ERR not authenticated\r\n"
        assert (await client.command("PASS x")) == b"-ERR send USER first\r\n"
        assert (await client.command("STLS")) == b"-ERR STLS not available\r\n"
        assert (await client.command("RETR 1")) == b"-ERR unknown command\r\n"
        assert (await client.command("NOOP")) == b"+OK\r\n"
        assert (await client.command("QUIT")) == b"+OK bye\r\n"
        assert await client.line() == b""


async def test_without_users_there_is_no_login() -> None:
    async with Pop3Server() as server, raw_client(server) as client:
        await client.line()
        await client.send("CAPA")
        lines = [await client.line() for _ in range(3)]
        assert lines == [
            b"+OK capability list follows\r\n",
            b"IMPLEMENTATION outagewatch-simulator\r\n",
            b".\r\n",
        ]
        assert (await client.command(f"USER {USER}")).startswith(b"-ERR")


async def test_bad_banner_is_err_and_close() -> None:
    faults = Faults(bad_banner=True)
    async with Pop3Server(users=USERS, faults=faults) as server, raw_client(server) as client:
        assert await client.line() == b"-ERR server unavailable\r\n"
        assert await client.line() == b""
