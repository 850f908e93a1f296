"""Secrets that would protect nothing are refused, with the reason and never the value: an
empty one (from a file as from the environment), and a signing secret or callback token too
short to resist guessing. A secret file others may read is warned about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from outagewatch.cli.main import main
from outagewatch.config import parse_config, secret_file_warnings, secret_problems

LISTS = {"incident": ["i@example.net"], "informational": ["n@example.net"]}
GOOD = "0123456789abcdef-good-secret"


def config_data(tmp: Path, **secrets: str) -> dict[str, Any]:
    """A PagerDuty channel with a webhook secret, an Opsgenie one with a callback token,
    a signed webhook and an IMAP probe password, each from a file under ``tmp``, with the
    given contents."""
    for name in ("pd", "jsm", "hook", "imap"):
        file = tmp / name
        file.write_text(secrets.get(name, GOOD) + "\n")
        file.chmod(0o600)
    return {
        "channels": {
            "pd": {"type": "pagerduty", "routing_key_env": "PD_KEY",
                   "webhook_secret_file": str(tmp / "pd")},
            "jsm": {"type": "opsgenie", "api_key_env": "JSM_KEY",
                    "callback_token_file": str(tmp / "jsm")},
            "hook": {"type": "webhook", "url": "https://hooks.example.net/ow",
                     "secret_file": str(tmp / "hook")},
        },
        "platforms": {"eu-de-1": {"name": "EU", "lists": LISTS, "services": {
            "imap": {"protocol": "imap", "host": "imap.example.net", "tls": "implicit",
                     "auth": {"username": "probe", "password_file": str(tmp / "imap")}},
        }}},
    }  # fmt: skip


@pytest.fixture(autouse=True)
def vendor_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_KEY", "pd-routing-key")
    monkeypatch.setenv("JSM_KEY", "jsm-api-key")


def test_good_secrets_pass(tmp_path: Path) -> None:
    assert secret_problems(parse_config(config_data(tmp_path))) == []


@pytest.mark.parametrize("name", ["pd", "jsm", "hook", "imap"])
def test_an_empty_secret_file_is_refused(tmp_path: Path, name: str) -> None:
    found = secret_problems(parse_config(config_data(tmp_path, **{name: ""})))
    assert len(found) == 1 and found[0].endswith(f"{tmp_path / name} is empty"), found


@pytest.mark.parametrize(
    ("name", "key"),
    [("pd", "channels.pd.webhook_secret_file"), ("jsm", "channels.jsm.callback_token_file"),
     ("hook", "channels.hook.secret_file")],
)  # fmt: skip
def test_a_short_signing_secret_or_token_is_refused(tmp_path: Path, name: str, key: str) -> None:
    found = secret_problems(parse_config(config_data(tmp_path, **{name: "guessable"})))
    assert found == [
        f"{key}: {tmp_path / name} holds 9 characters; this secret needs at least 16"
        " (make one with: openssl rand -hex 32)"
    ]
    assert "guessable" not in found[0]


def test_an_empty_or_short_secret_in_the_environment_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = config_data(tmp_path)
    data["channels"]["jsm"] = {"type": "opsgenie", "api_key_env": "JSM_KEY",
                               "callback_token_env": "JSM_TOKEN"}  # fmt: skip
    monkeypatch.setenv("JSM_KEY", "")
    monkeypatch.setenv("JSM_TOKEN", "short")
    assert secret_problems(parse_config(data)) == [
        "channels.jsm.api_key_env: environment variable JSM_KEY is empty",
        "channels.jsm.callback_token_env: environment variable JSM_TOKEN holds 5 characters;"
        " this secret needs at least 16 (make one with: openssl rand -hex 32)",
    ]


def test_a_probe_password_has_no_least_length(tmp_path: Path) -> None:
    # The mail platform chose it, not the operator: any non-empty one is what it is.
    assert secret_problems(parse_config(config_data(tmp_path, imap="x"))) == []


def test_check_config_warns_of_secret_files_others_may_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = config_data(tmp_path)
    (tmp_path / "pd").chmod(0o640)
    (tmp_path / "imap").chmod(0o644)
    config = parse_config(data)
    assert secret_file_warnings(config) == [
        f"platforms.eu-de-1.services.imap.auth.password_file: {tmp_path / 'imap'} is readable"
        " by its group or by others (mode 0644); make it 0600, owned by the daemon's user",
        f"channels.pd.webhook_secret_file: {tmp_path / 'pd'} is readable by its group or by"
        " others (mode 0640); make it 0600, owned by the daemon's user",
    ]
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["check-config", "--secrets", "-c", str(path)]) == 0
    err = capsys.readouterr().err
    assert f"warning: channels.pd.webhook_secret_file: {tmp_path / 'pd'} is readable" in err
    (tmp_path / "pd").chmod(0o600)
    (tmp_path / "imap").chmod(0o400)
    assert secret_file_warnings(config) == []


def test_check_config_refuses_an_empty_secret_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config_data(tmp_path, jsm="")))
    assert main(["check-config", "--secrets", "-c", str(path)]) == 2
    assert f"channels.jsm.callback_token_file: {tmp_path / 'jsm'} is empty" in (
        capsys.readouterr().err
    )
