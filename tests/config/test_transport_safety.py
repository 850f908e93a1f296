"""A config that would send a password in clear text over the network, or build the status
page's links from the request's Host header, is refused naming the path; clear text is
allowed on loopback and where the service says ``allow_cleartext_auth: true``."""

from __future__ import annotations

from typing import Any

import pytest

from outagewatch.config import ConfigError, parse_config

LISTS = {"incident": ["i@example.net"], "informational": ["n@example.net"]}
AUTH = {"username": "probe@example.net", "password_env": "OW_PROBE_PASSWORD"}
WHY = "would send the password in clear text"


def config(service: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    services = {"svc": service or {"protocol": "imap", "host": "imap.example.net"}}
    return {"platforms": {"eu-de-1": {"name": "EU", "lists": LISTS, "services": services}},
            **top}  # fmt: skip


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    return raised.value.problems


ROUNDTRIP = {"protocol": "roundtrip", "auth": AUTH,
             "submit": {"host": "smtp.example.net", "tls": "starttls"},
             "mailbox": {"host": "imap.example.net", "tls": "implicit"}}  # fmt: skip


@pytest.mark.parametrize(
    ("service", "where"),
    [
        ({"protocol": "imap", "host": "imap.example.net", "tls": "none", "auth": AUTH},
         "tls: none with auth"),
        ({"protocol": "smtp", "host": "192.0.2.25", "port": 587, "tls": "none", "auth": AUTH},
         "tls: none with auth"),
        ({"protocol": "pop3", "host": "[2001:db8::110]", "auth": AUTH}, "tls: none with auth"),
        ({"protocol": "http", "url": "https://webmail.example.net/", "auth": AUTH,
          "login": {"url": "http://webmail.example.net/login"}}, "login.url: an http:// login"),
        ({**ROUNDTRIP, "submit": {"host": "smtp.example.net", "tls": "none"}},
         "submit: tls: none with auth"),
        ({**ROUNDTRIP, "mailbox": {"host": "imap.example.net", "port": 143, "tls": "none"}},
         "mailbox: tls: none with auth"),
    ],
    ids=["imap", "smtp", "pop3-default-tls", "http-login", "roundtrip-submit", "roundtrip-mailbox"],
)  # fmt: skip
def test_a_password_in_clear_text_is_refused_unless_allowed(
    service: dict[str, Any], where: str
) -> None:
    assert problems(config(service)) == [f"platforms.eu-de-1.services.svc: {where} {WHY};"
        " use tls: starttls or implicit (https:// for a login form), or say"
        " allow_cleartext_auth: true if that is really meant"]  # fmt: skip
    parse_config(config({**service, "allow_cleartext_auth": True}))


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.53"])
def test_clear_text_on_loopback_never_crosses_a_network(host: str) -> None:
    parse_config(config({"protocol": "imap", "host": host, "tls": "none", "auth": AUTH}))
    url = f"http://{host if ':' not in host or host.startswith('[') else f'[{host}]'}:8080"
    parse_config(config({"protocol": "http", "url": f"{url}/", "auth": AUTH,
                         "login": {"url": f"{url}/login"}}))  # fmt: skip


def test_without_a_password_plain_text_is_fine() -> None:
    parse_config(config({"protocol": "smtp", "host": "smtp.example.net", "tls": "none"}))


def test_the_relay_too() -> None:
    relay = {"host": "relay.example.net", "port": 25, "tls": "none", "username": "noc",
             "password_env": "OW_SMTP", "from": "noc@example.net"}  # fmt: skip
    (problem,) = problems(config(smtp=relay))
    assert problem.startswith(f"smtp: tls: none with a username {WHY}")
    parse_config(config(smtp={**relay, "allow_cleartext_auth": True}))
    parse_config(config(smtp={**relay, "host": "127.0.0.1"}))
    fallback = {k: v for k, v in relay.items() if k != "from"}
    (problem,) = problems(config(smtp={**relay, "host": "127.0.0.1", "fallback": [fallback]}))
    assert problem.startswith("smtp.fallback.0: tls: none with a username")


def test_the_status_page_needs_its_public_url() -> None:
    assert problems(config(web={"status_page": True})) == [
        "web: public_url is required with status_page: true (where customers reach the page,"
        " e.g. https://status.example.net)"
    ]
    parse_config(config(web={"status_page": True, "public_url": "https://status.example.net"}))
    parse_config(config(web={"public_url": "https://status.example.net"}))
    parse_config(config(web={"status_page": False}))
