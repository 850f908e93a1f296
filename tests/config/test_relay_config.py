"""smtp.fallback and the outbox's relay settings: typed, strict, secrets named by path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from outagewatch.config import ConfigError, parse_config, secret_problems

FALLBACK = {"host": "relay2.example.net", "port": 465, "tls": "implicit", "username": "noc",
            "password_env": "OUTAGEWATCH_TEST_FALLBACK_PASSWORD"}  # fmt: skip


def test_fallback_relays_and_their_defaults(example: dict[str, Any]) -> None:
    example["smtp"]["fallback"] = [FALLBACK, {"host": "relay3.example.net"}]
    config = parse_config(example)
    assert config.smtp is not None
    assert [e.address for e in config.smtp.endpoints] == [
        "relay.example.net:587", "relay2.example.net:465", "relay3.example.net:587",
    ]  # fmt: skip
    assert config.smtp.fallback[1].tls == "starttls"
    assert config.outbox.failover_after == timedelta(minutes=5)
    assert config.outbox.relay_check == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("fallback", "problem"),
    [
        ({**FALLBACK, "from": "x@example.net"}, "smtp.fallback.0.from: unknown key"),
        ({**FALLBACK, "password": "hunter2"}, "smtp.fallback.0.password: unknown key"),
        ({"host": "relay2.example.net", "password_env": "P"}, "smtp.fallback.0"),
        ({**FALLBACK, "port": 0}, "smtp.fallback.0.port"),
    ],
)
def test_bad_fallbacks_are_named_by_path(
    example: dict[str, Any], fallback: dict[str, Any], problem: str
) -> None:
    example["smtp"]["fallback"] = [fallback]
    with pytest.raises(ConfigError) as caught:
        parse_config(example)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


def test_a_missing_fallback_secret_is_named(
    example: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTAGEWATCH_SMTP_PASSWORD", "x")
    monkeypatch.delenv("OUTAGEWATCH_TEST_FALLBACK_PASSWORD", raising=False)
    example["smtp"]["fallback"] = [FALLBACK]
    found = secret_problems(parse_config(example))
    assert any(p.startswith("smtp.fallback.0.password_env: ") for p in found), found
