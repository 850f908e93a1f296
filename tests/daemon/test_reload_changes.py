"""daemon/reload.py's pure parts: what a new config changes, and what only a restart can."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from outagewatch.config import parse_config
from outagewatch.config.targets import targets_of
from outagewatch.daemon.reload import changes_between, restart_only_changes, sections_changed

BASE: dict[str, Any] = {
    "vantage": "fra",
    "database": "postgresql+asyncpg://ow:s3cret@db.example.net/ow",
    "platforms": {
        "eu-de-1": {
            "name": "OX Cloud EU de-1",
            "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
            "services": {
                "webmail": {"protocol": "http", "url": "https://webmail.example.net/"},
                "imap": {"protocol": "imap", "host": "imap.example.net", "port": 993,
                         "tls": "implicit"},
            },
        }
    },
}  # fmt: skip


def test_services_added_removed_and_changed_by_key() -> None:
    new = copy.deepcopy(BASE)
    services = new["platforms"]["eu-de-1"]["services"]
    del services["webmail"]
    services["imap"]["rules"] = {"slow_after": "10s"}
    services["pop3"] = {"protocol": "pop3", "host": "pop.example.net", "port": 995,
                        "tls": "implicit"}  # fmt: skip
    found = changes_between(targets_of(parse_config(BASE)), targets_of(parse_config(new)))
    assert [t.key for t in found.added] == [("eu-de-1", "pop3")]
    assert [t.key for t in found.removed] == [("eu-de-1", "webmail")]
    assert [t.key for t in found.changed] == [("eu-de-1", "imap")]
    assert found.summary() == "added eu-de-1/pop3; removed eu-de-1/webmail; changed eu-de-1/imap"


def test_an_unchanged_file_changes_nothing() -> None:
    targets = targets_of(parse_config(BASE))
    found = changes_between(targets, targets_of(parse_config(copy.deepcopy(BASE))))
    assert found.summary() == "added none; removed none; changed none"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("api", {"listen": "0.0.0.0:8080"}),
        ("database", "postgresql+asyncpg://ow:other@db2.example.net/ow"),
        ("vantage", "nyc"),
        ("leader_takeover", "1m"),
        ("metrics", {"phases": True}),
        ("probe_workers", 3),
    ],
)
def test_what_only_a_restart_can_change(key: str, value: Any) -> None:
    new = copy.deepcopy(BASE) | {key: value}
    if key == "vantage":
        new["vantages"] = ["nyc"]
    path = {"api": "api.listen", "metrics": "metrics.phases"}.get(key, key)
    (problem,) = restart_only_changes(parse_config(BASE), parse_config(new))
    assert problem.startswith(f"{path}: changed in the file, but a change of {path} needs")
    assert "other" not in problem and "s3cret" not in problem  # a URL's password stays out


def test_rules_lists_and_services_can_change_in_place() -> None:
    new = copy.deepcopy(BASE) | {"rules": {"outage_after": "10m"}}
    new["platforms"]["eu-de-1"]["lists"]["incident"] = ["other@example.net"]
    assert restart_only_changes(parse_config(BASE), parse_config(new)) == []


def test_the_sections_a_file_changes_are_named_without_their_values() -> None:
    new = copy.deepcopy(BASE) | {"smtp": {"host": "relay2.example.net", "from": "n@example.net"}}
    new["platforms"]["eu-de-1"]["lists"]["incident"] = ["other@example.net"]
    assert sections_changed(parse_config(BASE), parse_config(new)) == ["smtp", "platforms"]
    assert sections_changed(parse_config(BASE), parse_config(copy.deepcopy(BASE))) == []
