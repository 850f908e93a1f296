"""SMTP simulator with a real client (aiosmtplib) in each TLS mode, and the mail sink."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time

import aiosmtplib
import pytest

from outagewatch.sim import SmtpServer
from outagewatch.tls.contexts import TlsMode
from tests.sim.simhelpers import PASSWORD, USER, USERS, raw_client

S220_READY = 220
S250_OK = 250
S503_BAD_SEQUENCE = 503
S535_AUTH_FAILED = 535
S554_UNAVAILABLE = 554
MESSAGE = "From: noc@example.net\r\nTo: list@example.net\r\nSubject: test\r\n\r\nHello\r\n"


def _server(
    mode: TlsMode, server_tls: ssl.SSLContext, users: dict[str, str] | None = None
) -> SmtpServer:
    context = None if mode == "none" else server_tls
    return SmtpServer(tls=mode, ssl_context=context, users=users)


def _client(
    server: SmtpServer, mode: TlsMode = "none", client_tls: ssl.SSLContext | None = None
) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        use_tls=mode == "implicit",
        start_tls=False,
        tls_context=client_tls,
        timeout=5,
    )


@pytest.mark.parametrize("mode", ["none", "starttls", "implicit"])
async def test_a_probe_transaction_and_a_mail(
    mode: TlsMode, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    async with _server(mode, server_tls, users=USERS) as server:
        client = _client(server, mode, client_tls)
        banner = await client.connect()
        assert banner.code == S220_READY
        await client.ehlo()
        assert client.supports_extension("starttls") == (mode == "starttls")
        if mode == "starttls":
            assert not client.supports_extension("auth")  # only after TLS
            await client.starttls(tls_context=client_tls)
            await client.ehlo()
        assert client.supports_extension("auth")
        await client.login(USER, PASSWORD)
        assert (await client.noop()).code == S250_OK
        await client.sendmail("noc@example.net", ["list@example.net"], MESSAGE)
        await client.quit()
        [received] = await asyncio.wait_for(server.wait_for_messages(1), 2)
    assert received.mail_from == "noc@example.net"
    assert received.rcpt_tos == ("list@example.net",)
    assert received.data == MESSAGE.encode()
    assert received.login == USER


@pytest.mark.parametrize("mode", ["none", "starttls", "implicit"])
async def test_a_wrong_password_is_refused(
    mode: TlsMode, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    async with _server(mode, server_tls, users=USERS) as server:
        client = _client(server, mode, client_tls)
        await client.connect()
        if mode == "starttls":
            await client.starttls(tls_context=client_tls)
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as caught:
            await client.login(USER, "wrong")
        assert caught.value.code == S535_AUTH_FAILED
        await client.quit()


async def test_reject_login_refuses_right_credentials(server_tls: ssl.SSLContext) -> None:
    async with _server("none", server_tls, users=USERS) as server:
        server.faults.reject_login = True
        client = _client(server)
        await client.connect()
        with pytest.raises(aiosmtplib.SMTPAuthenticationError):
            await client.login(USER, PASSWORD)
        await client.quit()


async def test_without_users_auth_is_not_offered_but_mail_is_accepted(
    server_tls: ssl.SSLContext,
) -> None:
    async with _server("none", server_tls) as server:
        client = _client(server)
        await client.connect()
        await client.ehlo()
        assert not client.supports_extension("auth")
        await client.sendmail("a@example.net", ["b@example.net"], MESSAGE)
        await client.quit()
        [received] = server.messages
    assert received.login is None


async def test_bad_banner_is_554_then_only_quit_works(server_tls: ssl.SSLContext) -> None:
    async with _server("none", server_tls) as server:
        server.faults.bad_banner = True
        client = _client(server)
        with pytest.raises(aiosmtplib.SMTPConnectResponseError) as caught:
            await client.connect()
        assert caught.value.code == S554_UNAVAILABLE
        async with raw_client(server) as raw:
            assert (await raw.line()).startswith(b"554 ")
            assert (await raw.command("EHLO probe")).startswith(b"503 ")
            assert (await raw.command("QUIT")).startswith(b"221 ")


@pytest.mark.solo
async def test_reply_delay_applies_once_per_reply(server_tls: ssl.SSLContext) -> None:
    async with _server("none", server_tls, users=USERS) as server:
        client = _client(server)
        await client.connect()
        server.faults.reply_delay = 0.1
        started = time.perf_counter()
        await client.ehlo()  # a multi-line reply: one delay, not one per line
        await client.noop()
        assert 0.2 <= time.perf_counter() - started < 0.35
        await client.quit()


async def test_hang_makes_the_client_time_out(server_tls: ssl.SSLContext) -> None:
    async with _server("none", server_tls) as server:
        server.faults.hang = True
        client = aiosmtplib.SMTP(hostname=server.host, port=server.port, timeout=0.2)
        with pytest.raises(aiosmtplib.SMTPTimeoutError):
            await client.connect()
        client.close()


async def test_no_password_reaches_the_logs(
    server_tls: ssl.SSLContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with _server("none", server_tls, users=USERS) as server:
        for mechanism in ("PLAIN", "LOGIN"):
            client = _client(server)
            await client.connect()
            await client.ehlo()
            await getattr(client, f"auth_{mechanism.lower()}")(USER, PASSWORD)
            await client.quit()
    assert "AUTH" in caplog.text  # the exchange was logged at all
    plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, plain, base64.b64encode(PASSWORD.encode()).decode()):
        assert secret not in caplog.text
