"""The POP3 probe against a real Dovecot: each TLS mode, good and bad credentials, bad CAs."""

from __future__ import annotations

import base64
import logging
import math
import re
import socket
from pathlib import Path

import pytest

from outagewatch.config import Pop3Service
from outagewatch.probes.pop3 import probe_pop3
from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.probes.runner import Credentials, run_probe
from outagewatch.tls import TlsMode
from tests.real import dovecot as real_dovecot
from tests.real.dovecot import Dovecot

pytestmark = pytest.mark.real

dovecot = real_dovecot.dovecot  # the run's one Dovecot, shared with the IMAP tests

LIMIT = 5.0
PHASES = {
    "none": ["dns", "connect", "banner", "auth", "command", "quit"],
    "starttls": ["dns", "connect", "banner", "tls", "auth", "command", "quit"],
    "implicit": ["dns", "connect", "tls", "banner", "auth", "command", "quit"],
}
TLS_MODES: list[TlsMode] = ["none", "starttls", "implicit"]


def service(
    server: Dovecot, tls: TlsMode, *, ca_file: str | None, verify: bool = True
) -> Pop3Service:
    port = server.pop3s_port if tls == "implicit" else server.pop3_port
    return Pop3Service(
        protocol="pop3",
        host="127.0.0.1",
        port=port,
        tls=tls,
        tls_verify=verify,
        ca_file=Path(ca_file) if ca_file else None,
    )


def good(server: Dovecot) -> Credentials:
    return Credentials(server.username, server.password)


def assert_phases_add_up(result: ProbeResult) -> None:
    assert math.isclose(sum(result.phases.values()), result.duration, abs_tol=0.001)


@pytest.mark.parametrize("tls", TLS_MODES)
async def test_login_and_stat(dovecot: Dovecot, ca_file: str, tls: TlsMode) -> None:
    result = await run_probe(
        probe_pop3, service(dovecot, tls, ca_file=ca_file), limit=LIMIT, credentials=good(dovecot)
    )

    assert result.ok, f"{result.detail}\n{dovecot.log_tail()}"
    assert result.detail.startswith(f"maildrop {dovecot.messages} ")  # +OK <count> <octets>
    assert list(result.phases) == PHASES[tls]
    assert_phases_add_up(result)


@pytest.mark.parametrize("tls", TLS_MODES)
async def test_without_credentials_greeting_and_quit_only(
    dovecot: Dovecot, ca_file: str, tls: TlsMode
) -> None:
    result = await run_probe(probe_pop3, service(dovecot, tls, ca_file=ca_file), limit=LIMIT)

    assert result.ok, f"{result.detail}\n{dovecot.log_tail()}"
    assert "Dovecot" in result.detail
    assert list(result.phases) == [p for p in PHASES[tls] if p not in ("auth", "command")]
    assert_phases_add_up(result)


@pytest.mark.parametrize("tls", TLS_MODES)
async def test_bad_password_is_an_auth_failure(
    dovecot: Dovecot, ca_file: str, tls: TlsMode
) -> None:
    wrong = Credentials(dovecot.username, "not-" + dovecot.password)

    result = await run_probe(
        probe_pop3, service(dovecot, tls, ca_file=ca_file), limit=LIMIT, credentials=wrong
    )

    assert result.error_kind == ErrorKind.AUTH
    assert "[AUTH] Authentication failed" in result.detail
    assert result.detail.endswith("(during auth)")
    assert_phases_add_up(result)


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
async def test_unknown_ca_is_a_tls_failure(dovecot: Dovecot, tls: TlsMode) -> None:
    result = await run_probe(
        probe_pop3, service(dovecot, tls, ca_file=None), limit=LIMIT, credentials=good(dovecot)
    )

    assert result.error_kind == ErrorKind.TLS
    assert result.detail.startswith("certificate rejected")
    assert result.detail.endswith("(during tls)")


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
async def test_tls_verify_false_accepts_unknown_ca(dovecot: Dovecot, tls: TlsMode) -> None:
    result = await run_probe(
        probe_pop3,
        service(dovecot, tls, ca_file=None, verify=False),
        limit=LIMIT,
        credentials=good(dovecot),
    )

    assert result.ok, f"{result.detail}\n{dovecot.log_tail()}"


async def test_refused_port() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = Pop3Service(protocol="pop3", host="127.0.0.1", port=port)

    result = await run_probe(probe_pop3, closed, limit=LIMIT)

    assert result.error_kind == ErrorKind.REFUSED
    assert list(result.phases) == ["dns", "connect"]


@pytest.mark.parametrize("tls", TLS_MODES)
async def test_password_never_logged(
    dovecot: Dovecot, ca_file: str, tls: TlsMode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = Credentials(dovecot.username, dovecot.password + "x")

    results = [
        await run_probe(
            probe_pop3, service(dovecot, tls, ca_file=ca_file), limit=LIMIT, credentials=c
        )
        for c in (good(dovecot), wrong)
    ]

    assert [r.ok for r in results] == [True, False]
    for creds in (good(dovecot), wrong):
        for form in secret_forms(creds):
            assert form not in caplog.text
            assert all(form not in r.detail for r in results)


def secret_forms(creds: Credentials) -> list[str]:
    """The password as typed, in SASL PLAIN's base64, and its random core (which a repr,
    with its own escaping of quotes and backslashes, would still show)."""
    plain = f"\0{creds.username}\0{creds.password}".encode()
    return [
        creds.password,
        base64.b64encode(plain).decode(),
        base64.b64encode(creds.password.encode()).decode(),
        max(re.findall(r"[\w-]+", creds.password), key=len),
    ]
