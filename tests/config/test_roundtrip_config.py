"""protocol: roundtrip, auth.mechanism and tls: in the config, with errors at the path the
operator wrote."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from outagewatch.config import ConfigError, RoundtripService, parse_config, secret_problems

BASE: dict[str, Any] = {
    "platforms": {
        "eu-de-1": {
            "name": "OX Cloud EU de-1",
            "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
            "services": {
                "delivery": {
                    "protocol": "roundtrip",
                    "auth": {"username": "probe@example.net", "password_env": "OW_RT_PW",
                             "mechanism": "login"},
                    "submit": {"host": "smtp.example.net"},
                    "mailbox": {"host": "imap.example.net", "tls": "implicit"},
                }
            },
        }
    }
}  # fmt: skip


def with_service(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    service = data["platforms"]["eu-de-1"]["services"]["delivery"]
    service.update(changes)
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def test_endpoints_default_ports_and_the_target() -> None:
    service = parse_config(BASE).service("eu-de-1", "delivery")
    assert isinstance(service, RoundtripService)
    assert service.smtp.effective_port == 587 and service.imap.effective_port == 993
    assert service.target == "smtp.example.net:587 -> imap.example.net:993"
    assert service.smtp.auth is not None and service.smtp.auth.mechanism == "login"
    assert service.mailbox.junk == "Junk" and service.display == "Mail delivery"


def test_the_mailbox_needs_a_login() -> None:
    assert problems(with_service(auth=None)) == [
        "platforms.eu-de-1.services.delivery: the mailbox needs auth (here or in "
        "mailbox.auth) to find the mail"
    ]


def test_a_mechanism_outside_plain_and_login_is_refused() -> None:
    bad = with_service(auth={"username": "p@example.net", "password_env": "X", "mechanism": "ntlm"})
    (problem,) = problems(bad)
    assert problem.startswith("platforms.eu-de-1.services.delivery.auth.mechanism:")


def test_every_endpoint_secret_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    mailbox = {"host": "imap.example.net", "auth": {"username": "m@example.net",
                                                     "password_env": "OW_RT_MAILBOX"}}  # fmt: skip
    monkeypatch.delenv("OW_RT_PW", raising=False)
    monkeypatch.delenv("OW_RT_MAILBOX", raising=False)
    found = secret_problems(parse_config(with_service(mailbox=mailbox)))
    assert [p.split(":")[0] for p in found] == [
        "platforms.eu-de-1.services.delivery.auth.password_env",
        "platforms.eu-de-1.services.delivery.mailbox.auth.password_env",
    ]


def test_tls_warning_leads() -> None:
    config = parse_config({**BASE, "tls": {"warn_before": "30d", "critical_before": "10d"}})
    assert config.tls.warn_before == timedelta(days=30)
    assert config.tls.critical_before == timedelta(days=10)
    assert parse_config(BASE).tls.warn_before is None  # 21 days or a third of the lifetime
