"""The IMAP and POP3 probes against a real Dovecot: each TLS mode, good and bad credentials,
bad CAs. One test matrix for both protocols; what differs lives in ``IMAP`` and ``POP3``."""

from __future__ import annotations

import base64
import logging
import math
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from outagewatch.config import ImapService, Pop3Service
from outagewatch.probes.imap import probe_imap
from outagewatch.probes.imap_client import quoted
from outagewatch.probes.pop3 import probe_pop3
from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.probes.runner import Credentials, ProtocolTransaction, run_probe
from outagewatch.tls.contexts import TlsMode
from tests.real import dovecot as real_dovecot
from tests.real.dovecot import Dovecot

pytestmark = pytest.mark.real

dovecot = real_dovecot.dovecot  # the run's one Dovecot, shared with every module that uses it

LIMIT = 5.0
TLS_MODES: list[TlsMode] = ["none", "starttls", "implicit"]


# The detail checks, one per protocol and outcome (plain asserts, so pytest explains a failure).


def imap_logged_in(detail: str, server: Dovecot) -> None:
    assert detail == f"IMAP4rev1 ready (LOGIN), INBOX selected ({server.messages} messages)"


def pop3_logged_in(detail: str, server: Dovecot) -> None:
    assert detail.startswith(f"maildrop {server.messages} ")  # +OK <count> <octets>


def imap_greeted(detail: str) -> None:
    assert detail.startswith("IMAP4rev1 ready, greeting 'Dovecot")


def pop3_greeted(detail: str) -> None:
    assert "Dovecot" in detail


def imap_login_rejected(detail: str) -> None:
    assert detail.startswith("login rejected: [AUTHENTICATIONFAILED]")


def pop3_login_rejected(detail: str) -> None:
    assert "[AUTH] Authentication failed" in detail


@dataclass(frozen=True)
class Mail:
    """One protocol's side of the matrix."""

    name: Literal["imap", "pop3"]
    model: type[ImapService] | type[Pop3Service]
    probe: ProtocolTransaction
    port: Callable[[Dovecot], int]  # clear text, STARTTLS offered
    tls_port: Callable[[Dovecot], int]  # implicit TLS
    phases: dict[TlsMode, list[str]]  # of a good login, per TLS mode
    logged_in: Callable[[str, Dovecot], None]  # checks the detail of a good login
    greeted: Callable[[str], None]  # ... of a run without credentials
    login_rejected: Callable[[str], None]  # ... of a bad password
    quotings: tuple[Callable[[str], str], ...]  # how the protocol may spell a password
    masked_in_log: tuple[str, ...]  # logged stand-ins for commands that carry a secret

    def service(
        self, server: Dovecot, tls: TlsMode, *, ca_file: str | None, verify: bool = True
    ) -> ImapService | Pop3Service:
        port = self.tls_port(server) if tls == "implicit" else self.port(server)
        return self.model.model_validate(
            {
                "protocol": self.name,
                "host": "127.0.0.1",
                "port": port,
                "tls": tls,
                "tls_verify": verify,
                "ca_file": Path(ca_file) if ca_file else None,
            }
        )


IMAP = Mail(
    name="imap",
    model=ImapService,
    probe=probe_imap,
    port=lambda server: server.imap_port,
    tls_port=lambda server: server.imaps_port,
    phases={
        "none": ["dns", "connect", "banner", "auth", "command", "logout"],
        "starttls": ["dns", "connect", "banner", "tls", "auth", "command", "logout"],
        "implicit": ["dns", "connect", "tls", "banner", "auth", "command", "logout"],
    },
    logged_in=imap_logged_in,
    greeted=imap_greeted,
    login_rejected=imap_login_rejected,
    quotings=(quoted,),
    masked_in_log=("LOGIN ***",),  # the commands were logged, without their arguments
)
POP3 = Mail(
    name="pop3",
    model=Pop3Service,
    probe=probe_pop3,
    port=lambda server: server.pop3_port,
    tls_port=lambda server: server.pop3s_port,
    phases={
        "none": ["dns", "connect", "banner", "auth", "command", "quit"],
        "starttls": ["dns", "connect", "banner", "tls", "auth", "command", "quit"],
        "implicit": ["dns", "connect", "tls", "banner", "auth", "command", "quit"],
    },
    logged_in=pop3_logged_in,
    greeted=pop3_greeted,
    login_rejected=pop3_login_rejected,
    quotings=(),
    masked_in_log=(),
)
each_protocol = pytest.mark.parametrize("mail", [IMAP, POP3], ids=lambda mail: mail.name)


def good(server: Dovecot) -> Credentials:
    return Credentials(server.username, server.password)


def assert_phases_add_up(result: ProbeResult) -> None:
    assert math.isclose(sum(result.phases.values()), result.duration, abs_tol=0.001)


@pytest.mark.parametrize("tls", TLS_MODES)
@each_protocol
async def test_login_and_select_or_stat(
    dovecot: Dovecot, ca_file: str, mail: Mail, tls: TlsMode
) -> None:
    result = await run_probe(
        mail.probe,
        mail.service(dovecot, tls, ca_file=ca_file),
        limit=LIMIT,
        credentials=good(dovecot),
    )

    assert result.ok, f"{result.detail}\n{dovecot.log_tail()}"
    mail.logged_in(result.detail, dovecot)
    assert list(result.phases) == mail.phases[tls]
    assert_phases_add_up(result)


@pytest.mark.parametrize("tls", TLS_MODES)
@each_protocol
async def test_without_credentials_greeting_and_logout_or_quit_only(
    dovecot: Dovecot, ca_file: str, mail: Mail, tls: TlsMode
) -> None:
    result = await run_probe(mail.probe, mail.service(dovecot, tls, ca_file=ca_file), limit=LIMIT)

    assert result.ok, f"{result.detail}\n{dovecot.log_tail()}"
    mail.greeted(result.detail)
    assert list(result.phases) == [p for p in mail.phases[tls] if p not in ("auth", "command")]
    assert_phases_add_up(result)


@pytest.mark.parametrize("tls", TLS_MODES)
@each_protocol
async def test_bad_password_is_an_auth_failure(
    dovecot: Dovecot, ca_file: str, mail: Mail, tls: TlsMode
) -> None:
    wrong = Credentials(dovecot.username, "not-" + dovecot.password)

    result = await run_probe(
        mail.probe, mail.service(dovecot, tls, ca_file=ca_file), limit=LIMIT, credentials=wrong
    )

    assert result.error_kind == ErrorKind.AUTH
    mail.login_rejected(result.detail)
    assert result.detail.endswith("(during auth)")
    assert_phases_add_up(result)


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
@each_protocol
async def test_unknown_ca_is_a_tls_failure(dovecot: Dovecot, mail: Mail, tls: TlsMode) -> None:
    result = await run_probe(
        mail.probe, mail.service(dovecot, tls, ca_file=None), limit=LIMIT, credentials=good(dovecot)
    )

    assert result.error_kind == ErrorKind.TLS
    assert result.detail.startswith("certificate rejected")
    assert result.detail.endswith("(during tls)")


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
@each_protocol
async def test_tls_verify_false_accepts_unknown_ca(
    dovecot: Dovecot, mail: Mail, tls: TlsMode
) -> None:
    result = await run_probe(
        mail.probe,
        mail.service(dovecot, tls, ca_file=None, verify=False),
        limit=LIMIT,
        credentials=good(dovecot),
    )

    assert result.ok, f"{result.detail}\n{dovecot.log_tail()}"


@each_protocol
async def test_refused_port(mail: Mail) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = mail.model.model_validate({"protocol": mail.name, "host": "127.0.0.1", "port": port})

    result = await run_probe(mail.probe, closed, limit=LIMIT)

    assert result.error_kind == ErrorKind.REFUSED
    assert list(result.phases) == ["dns", "connect"]


@pytest.mark.parametrize("tls", TLS_MODES)
@each_protocol
async def test_password_never_logged(
    dovecot: Dovecot, ca_file: str, mail: Mail, tls: TlsMode, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = Credentials(dovecot.username, dovecot.password + "x")

    results = [
        await run_probe(
            mail.probe, mail.service(dovecot, tls, ca_file=ca_file), limit=LIMIT, credentials=c
        )
        for c in (good(dovecot), wrong)
    ]

    assert [r.ok for r in results] == [True, False]
    for creds in (good(dovecot), wrong):
        for form in secret_forms(mail, creds):
            assert form not in caplog.text
            assert all(form not in r.detail for r in results)
    for masked in mail.masked_in_log:
        assert masked in caplog.text


def secret_forms(mail: Mail, creds: Credentials) -> list[str]:
    """The password as typed, as the protocol quotes it (IMAP), in SASL PLAIN's base64, and
    its random core (which a repr, with its own escaping of quotes and backslashes, would
    still show)."""
    plain = f"\0{creds.username}\0{creds.password}".encode()
    return [
        creds.password,
        *(quote(creds.password) for quote in mail.quotings),
        base64.b64encode(plain).decode(),
        base64.b64encode(creds.password.encode()).decode(),
        max(re.findall(r"[\w-]+", creds.password), key=len),
    ]
