"""Every probe against the sim/ servers: each TLS mode, with and without auth, and each
fault classified right, with phases that add up to the total."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest

from outagewatch.config import HttpService, ImapService, Pop3Service, Service, SmtpService
from outagewatch.probes import PROBES, Credentials, ErrorKind, ProbeResult, run_probe
from outagewatch.sim import HttpServer, ImapServer, Pop3Server, SimServer, SmtpServer

USER, PASSWORD = "probe@example.net", "s3cret-Pw!42"
SERVERS: dict[str, type[SimServer]] = {
    "http": HttpServer,
    "smtp": SmtpServer,
    "imap": ImapServer,
    "pop3": Pop3Server,
}
# HTTP has no STARTTLS: webmail is http:// or https:// (implicit TLS).
CASES = [
    (p, t)
    for p in SERVERS
    for t in ("none", "starttls", "implicit")
    if (p, t) != ("http", "starttls")
]
EXPECTED_PHASES = {
    "http": {"dns", "connect", "first_byte", "body"},
    "smtp": {"dns", "connect", "banner", "ehlo", "command", "quit"},
    "imap": {"dns", "connect", "banner", "logout"},
    "pop3": {"dns", "connect", "banner", "quit"},
}


@pytest.fixture(params=CASES, ids=[f"{p}-{t}" for p, t in CASES])
async def sim(
    request: pytest.FixtureRequest, server_tls: ssl.SSLContext
) -> AsyncIterator[SimServer]:
    protocol, tls = request.param
    server = SERVERS[protocol](
        tls=tls, ssl_context=server_tls if tls != "none" else None, users={USER: PASSWORD}
    )
    async with server:
        yield server


def service_for(server: SimServer, ca_file: str, *, auth: bool) -> Service:
    common: dict[str, Any] = {"ca_file": ca_file}
    if auth:
        common["auth"] = {"username": USER, "password_env": "UNUSED_IN_THESE_TESTS"}
    if server.protocol == "http":
        scheme = "https" if server.tls == "implicit" else "http"
        base = f"{scheme}://127.0.0.1:{server.port}"
        login = {"login": {"url": f"{base}/login", "expect_body": "Welcome"}} if auth else {}
        return HttpService(
            protocol="http", url=f"{base}/", expect_body="OX App Suite", **login, **common
        )
    model = {"smtp": SmtpService, "imap": ImapService, "pop3": Pop3Service}[server.protocol]
    return model(
        protocol=server.protocol, host="127.0.0.1", port=server.port, tls=server.tls, **common
    )  # type: ignore[call-arg]


async def probe(
    server: SimServer, ca_file: str, *, auth: bool, password: str = PASSWORD, limit: float = 5
) -> ProbeResult:
    service = service_for(server, ca_file, auth=auth)
    creds = Credentials(USER, password) if auth else None
    return await run_probe(PROBES[server.protocol], service, limit=limit, credentials=creds)


def assert_phases_add_up(result: ProbeResult) -> None:
    assert sum(result.phases.values()) == pytest.approx(result.duration, abs=1e-6)


@pytest.mark.parametrize("auth", [False, True], ids=["anonymous", "auth"])
async def test_healthy(sim: SimServer, ca_file: str, auth: bool) -> None:
    result = await probe(sim, ca_file, auth=auth)
    assert result.ok, result.detail
    assert result.error_kind is None
    assert EXPECTED_PHASES[sim.protocol] <= set(result.phases)
    # A login runs in aiohttp, which connects and handshakes in one step (probes/http.py).
    http_login = sim.protocol == "http" and auth
    if (sim.tls != "none" and sim.protocol != "smtp" and not http_login) or (
        sim.protocol,
        sim.tls,
    ) == ("smtp", "starttls"):
        assert "tls" in result.phases
    if auth:
        assert ("login" if sim.protocol == "http" else "auth") in result.phases
    assert_phases_add_up(result)


async def test_slow_is_ok_but_bad(sim: SimServer, ca_file: str) -> None:
    sim.faults.greeting_delay = 0.4
    result = await probe(sim, ca_file, auth=True)
    assert result.ok, result.detail
    assert result.duration >= 0.4
    assert result.is_bad(slow_after=0.3) and result.verdict(0.3) == "slow"
    assert_phases_add_up(result)


@pytest.mark.solo
async def test_hanging_server_hits_the_timeout(sim: SimServer, ca_file: str) -> None:
    sim.faults.hang = True
    result = await probe(sim, ca_file, auth=True, limit=0.5)
    assert result.error_kind is ErrorKind.TIMEOUT
    assert 0.5 <= result.duration < 1.5
    assert_phases_add_up(result)


async def test_refused(sim: SimServer, ca_file: str) -> None:
    await sim.set_refusing(True)
    result = await probe(sim, ca_file, auth=True)
    assert result.error_kind is ErrorKind.REFUSED, result.detail
    assert_phases_add_up(result)


async def test_bad_login(sim: SimServer, ca_file: str) -> None:
    result = await probe(sim, ca_file, auth=True, password="wrong")
    assert result.error_kind is ErrorKind.AUTH, result.detail
    assert "wrong" not in result.detail
    assert_phases_add_up(result)


async def test_rejected_login_fault(sim: SimServer, ca_file: str) -> None:
    sim.faults.reject_login = True
    result = await probe(sim, ca_file, auth=True)
    assert result.error_kind is ErrorKind.AUTH, result.detail


async def test_bad_banner(sim: SimServer, ca_file: str) -> None:
    sim.faults.bad_banner = True
    result = await probe(sim, ca_file, auth=True)
    expected = ErrorKind.UNEXPECTED if sim.protocol == "http" else ErrorKind.PROTOCOL
    assert result.error_kind is expected, result.detail
    assert_phases_add_up(result)


async def test_no_task_outlives_a_probe(sim: SimServer, ca_file: str) -> None:
    before = asyncio.all_tasks()
    sim.faults.hang = True
    await probe(sim, ca_file, auth=True, limit=0.2)
    sim.faults.hang = False
    await probe(sim, ca_file, auth=True)
    leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert not [
        t
        for t in leftover
        if "outagewatch" in repr(t.get_coro()) and "sim" not in repr(t.get_coro())
    ]
