"""HTTP simulator with a real client (aiohttp), plain and https."""

from __future__ import annotations

import ssl
import time

import aiohttp
import pytest

from outagewatch.sim import HttpServer
from outagewatch.tls.contexts import TlsMode
from tests.sim.simhelpers import PASSWORD, USER, USERS

S200_OK = 200
S401_UNAUTHORIZED = 401
S503_UNAVAILABLE = 503


def _server(mode: TlsMode, server_tls: ssl.SSLContext) -> HttpServer:
    return HttpServer(tls=mode, ssl_context=server_tls if mode == "implicit" else None, users=USERS)


@pytest.mark.parametrize("mode", ["none", "implicit"])
async def test_page_and_logins(
    mode: TlsMode, server_tls: ssl.SSLContext, client_tls: ssl.SSLContext
) -> None:
    async with _server(mode, server_tls) as server, aiohttp.ClientSession() as http:
        assert server.url.startswith("https://" if mode == "implicit" else "http://")
        async with http.get(server.url, ssl=client_tls) as response:
            assert response.status == S200_OK
            assert response.content_type == "text/html"
            assert "OX App Suite" in await response.text()
        login = server.url + "login"
        good = {"username": USER, "password": PASSWORD}
        async with http.post(login, data=good, ssl=client_tls) as response:
            assert response.status == S200_OK
            assert "Welcome" in await response.text()
        bad = {"username": USER, "password": "wrong"}
        async with http.post(login, data=bad, ssl=client_tls) as response:
            assert response.status == S401_UNAUTHORIZED


async def test_reject_login_refuses_right_credentials(
    server_tls: ssl.SSLContext,
) -> None:
    async with _server("none", server_tls) as server, aiohttp.ClientSession() as http:
        server.faults.reject_login = True
        good = {"username": USER, "password": PASSWORD}
        async with http.post(server.url + "login", data=good) as response:
            assert response.status == S401_UNAUTHORIZED


async def test_bad_banner_answers_503(server_tls: ssl.SSLContext) -> None:
    async with _server("none", server_tls) as server, aiohttp.ClientSession() as http:
        server.faults.bad_banner = True
        async with http.get(server.url) as response:
            assert response.status == S503_UNAVAILABLE


@pytest.mark.solo
async def test_delays_add_up_before_the_response(server_tls: ssl.SSLContext) -> None:
    async with _server("none", server_tls) as server, aiohttp.ClientSession() as http:
        server.faults.greeting_delay = 0.15
        server.faults.reply_delay = 0.15
        started = time.perf_counter()
        async with http.get(server.url) as response:
            assert response.status == S200_OK
        assert 0.3 <= time.perf_counter() - started < 0.6


def test_starttls_does_not_exist_for_http(server_tls: ssl.SSLContext) -> None:
    with pytest.raises(ValueError, match="starttls"):
        HttpServer(tls="starttls", ssl_context=server_tls)
