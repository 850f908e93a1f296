"""channels:, oncall.channels / min_severity and per-platform routing: strict, secrets only
by *_env / *_file, every problem one line naming its path."""

from __future__ import annotations

from typing import Any

import pytest

from outagewatch.config import ConfigError, parse_config, secret_problems

LISTS = {"incident": ["i@example.net"], "informational": ["n@example.net"]}


def data(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "oncall": {"email": "oncall@example.net", "channels": ["pd", "chat"], "min_severity": 2},
        "channels": {
            "pd": {"type": "pagerduty", "routing_key_env": "PD_KEY", "region": "eu"},
            "chat": {"type": "slack", "url_env": "SLACK_URL", "min_severity": 3},
            "teams": {"type": "teams", "url_file": "/run/secrets/teams-url"},
            "jsm": {"type": "opsgenie", "api_key_env": "JSM_KEY",
                    "base_url": "https://api.atlassian.com/jsm/ops/integration"},
            "hooks": {"type": "webhook", "url": "https://hooks.example.net/ow",
                      "secret_env": "OW_HOOK_SECRET"},
        },
        "platforms": {
            "eu-de-1": {"name": "EU", "services": {"imap": {"protocol": "imap", "host": "h"}},
                        "lists": LISTS},
            "us": {"name": "US", "services": {"imap": {"protocol": "imap", "host": "h"}},
                   "lists": LISTS,
                   "oncall": {"channels": ["jsm", "teams"], "min_severity": 1}},
        },
    }  # fmt: skip
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = base
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return base


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(raw)
    return raised.value.problems


def test_routing_takes_the_global_list_or_the_platforms_own() -> None:
    config = parse_config(data())
    assert config.channels_for("eu-de-1") == {"pd": 2, "chat": 3}
    assert config.channels_for("us") == {"jsm": 1, "teams": 1}
    assert config.channels["pd"].paging and not config.channels["chat"].paging


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"oncall__channels": ["pd", "pager"]},
         "oncall.channels: no channel 'pager' under channels: (have: pd, chat, teams, jsm, hooks)"),
        ({"platforms__us__oncall__channels": ["nope"]},
         "platforms.us.oncall.channels: no channel 'nope' under channels:"),
        ({"channels__pd__routing_key": "abc123"},
         "channels.pd: a secret never goes into the YAML: use routing_key_env"),
        ({"channels__pd__routing_key_file": "/run/secrets/pd"},
         "channels.pd: give exactly one of routing_key_env, routing_key_file"),
        ({"channels__chat__url": "https://hooks.slack.com/services/T/B/x"},
         "channels.chat: give exactly one of url_env, url_file, url"),
        ({"channels__hooks__secret_env": None},
         "channels.hooks: give exactly one of secret_env, secret_file"),
        ({"channels__pd__region": "apac"}, "channels.pd.region: input should be 'us' or 'eu'"),
        ({"channels__pd__type": "pagerdooty"},
         "channels.pd: type must be one of pagerduty, opsgenie, slack, teams, webhook"),
        ({"channels__jsm__colour": "red"}, "channels.jsm.colour: unknown key"),
        ({"channels__Bad Name": {"type": "teams", "url_env": "X"}}, "channels.Bad Name"),
        ({"channels__chat__min_severity": 5}, "channels.chat.min_severity:"),
    ],
)  # fmt: skip
def test_bad_channel_config_is_one_line_naming_the_path(
    changes: dict[str, Any], expected: str
) -> None:
    found = problems(data(**changes))
    assert any(p.startswith(expected) for p in found), found


def test_unreadable_channel_secrets_are_named_not_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SLACK_URL", "https://hooks.slack.com/services/T0/B0/s3cr3t")
    monkeypatch.setenv("JSM_KEY", "k")
    monkeypatch.setenv("OW_HOOK_SECRET", "whsec_c2VjcmV0LXNlY3JldA==")
    found = secret_problems(parse_config(data()))
    assert found == [
        "channels.pd.routing_key_env: environment variable PD_KEY is not set",
        "channels.teams.url_file: cannot read /run/secrets/teams-url: No such file or directory",
    ]
    assert not any("s3cr3t" in p for p in found)
