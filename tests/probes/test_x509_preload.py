"""cryptography loads where the config names TLS, before the first probe; elsewhere only at a
first TLS handshake (a redirect to https), never with the daemon (issue 13: 10 MB)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from outagewatch.config.services import (
    HttpService,
    ImapService,
    Pop3Service,
    RoundtripService,
    Service,
    SmtpService,
)
from outagewatch.probes.x509_preload import names_tls

AUTH: dict[str, Any] = {"username": "probe@example.net", "password_env": "X"}


def _roundtrip(submit_tls: str, mailbox_tls: str) -> RoundtripService:
    return RoundtripService.model_validate(
        {
            "protocol": "roundtrip",
            "submit": {"host": "smtp.example.net", "tls": submit_tls, "auth": AUTH},
            "mailbox": {"host": "imap.example.net", "tls": mailbox_tls, "auth": AUTH},
            "allow_cleartext_auth": True,  # what is asked here is TLS, not the password
        }
    )


CASES: list[tuple[Service, bool]] = [
    (HttpService(protocol="http", url="http://mail.example.net/"), False),
    (HttpService(protocol="http", url="https://mail.example.net/"), True),
    (HttpService(protocol="http", url="HTTPS://mail.example.net/"), True),
    (SmtpService(protocol="smtp", host="smtp.example.net"), False),
    (SmtpService(protocol="smtp", host="smtp.example.net", tls="starttls"), True),
    (ImapService(protocol="imap", host="imap.example.net", tls="implicit"), True),
    (Pop3Service(protocol="pop3", host="pop.example.net"), False),
    (_roundtrip("none", "none"), False),
    (_roundtrip("none", "implicit"), True),
]


@pytest.mark.parametrize(("service", "tls"), CASES)
def test_services_that_name_tls(service: Service, tls: bool) -> None:
    assert names_tls(service) is tls


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", f"{code}\nimport sys\nprint(*sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_preloaded_where_the_config_names_tls() -> None:
    https = "HttpService(protocol='http', url='https://mail.example.net/')"
    preloaded = _modules_after(
        "from outagewatch.config.services import HttpService\n"
        "from outagewatch.probes.x509_preload import preload_x509\n"
        f"preload_x509([{https}])"
    )
    assert "cryptography.x509" in preloaded
