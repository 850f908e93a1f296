"""The config contract: strict, typed, every problem named by its path (DESIGN section 6)."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from outagewatch.cli.main import main
from outagewatch.config import load_config, parse_config
from tests.config.example import EXAMPLE, problems_of


def test_shipped_example_passes_check_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "-c", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    for platform in ("eu-de-1", "us", "us-2"):
        assert f"platform {platform} " in out
    assert "oxcloud-de-1-incidents@open-xchange.com" in out
    assert "oxcloud-us-2@open-xchange.com" in out


def test_broken_copy_exits_2_naming_each_bad_path(
    example: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = copy.deepcopy(example)
    de1 = broken["platforms"]["eu-de-1"]
    de1["services"]["imap"]["port"] = 70000
    de1["services"]["smtp"]["colour"] = "blue"
    de1["timezone"] = "Mars/Olympus"
    broken["platforms"]["us"]["services"]["pop3"]["protocol"] = "gopher"
    broken["rules"]["slow_after"] = "30 seconds"
    del broken["platforms"]["us-2"]["lists"]["incident"]
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))

    assert main(["check-config", "-c", str(path)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "platforms.eu-de-1.services.imap.port: must be 1-65535" in err
    assert any(
        line.startswith("platforms.eu-de-1.services.smtp.colour: unknown key") for line in err
    )
    assert any(line.startswith("platforms.eu-de-1.timezone: unknown time zone") for line in err)
    assert (
        "platforms.us.services.pop3: protocol must be one of "
        "http, smtp, imap, pop3, roundtrip, dnsbl, mailauth" in err
    )
    assert any(line.startswith("rules.slow_after: must be a duration like") for line in err)
    assert "platforms.us-2.lists.incident: required" in err
    assert len(err) == 6


def test_yaml_syntax_error_names_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("vantage: fra\nplatforms:\n  eu-de-1: {name: [unclosed\n")
    assert main(["check-config", "-c", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:4:" in err or f"{path}:3:" in err
    assert "YAML syntax error" in err


def test_missing_file_and_missing_option(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["check-config", "-c", "/nonexistent/ow.yaml"]) == 2
    assert "cannot read the config file" in capsys.readouterr().err
    monkeypatch.delenv("OUTAGEWATCH_CONFIG", raising=False)
    assert main(["check-config"]) == 2
    assert "pass -c FILE" in capsys.readouterr().err


def test_inline_password_is_refused(example: dict[str, Any]) -> None:
    auth = example["platforms"]["eu-de-1"]["services"]["imap"]["auth"]
    auth["password"] = "hunter2"
    problems = problems_of(example)
    assert len(problems) == 1
    assert problems[0].startswith("platforms.eu-de-1.services.imap.auth: a password never goes")
    assert "hunter2" not in problems[0]


def test_secret_needs_exactly_one_source(example: dict[str, Any]) -> None:
    auth = example["platforms"]["eu-de-1"]["services"]["imap"]["auth"]
    auth["password_file"] = "/run/secrets/imap"
    assert problems_of(example) == [
        "platforms.eu-de-1.services.imap.auth: give exactly one of password_env or password_file"
    ]


def test_rules_override_from_global_to_platform_to_service(example: dict[str, Any]) -> None:
    config = parse_config(example)
    assert config.rules_for("eu-de-1", "imap").slow_after == timedelta(seconds=30)
    us2_pop3 = config.rules_for("us-2", "pop3")
    assert us2_pop3.slow_after == timedelta(seconds=20)  # service level
    assert us2_pop3.probe_interval == timedelta(seconds=20)  # platform level
    assert us2_pop3.max_gap == timedelta(seconds=60)  # follows the effective interval
    assert us2_pop3.outage_after == timedelta(minutes=15)  # global


def test_contradictory_rules_are_named(example: dict[str, Any]) -> None:
    example["platforms"]["us"]["rules"] = {"probe_timeout": "10s"}
    problems = problems_of(example)
    assert (
        "platforms.us.services.imap.rules.probe_timeout: must not be shorter than slow_after"
        in problems
    )
    assert len(problems) == 4  # once per service of the platform


def test_max_gap_defaults_from_the_schedule_and_the_timeout(example: dict[str, Any]) -> None:
    """Probed every 10 s with the default 60 s timeout and 3 overlapping probes, a hanging
    server's probes start up to 50 s apart: three intervals (30 s) would break every bad run."""
    example["rules"] = {"probe_interval": "10s"}
    rules = parse_config(example).rules_for("eu-de-1", "imap")
    assert rules.hang_gap == timedelta(seconds=50)
    assert rules.max_gap == timedelta(seconds=60)


def test_a_max_gap_that_a_hanging_server_would_break_is_refused(example: dict[str, Any]) -> None:
    example["rules"] = {"probe_interval": "1s", "probe_timeout": "3s", "max_gap": "2s"}
    example["rules"]["slow_after"] = "1s"
    example["rules"]["max_overlap"] = 1
    problems = problems_of(example)
    assert (
        "platforms.eu-de-1.services.imap.rules.max_gap: must be longer than 4s: with"
        " probe_interval 1s, probe_timeout 3s and max_overlap 1, the probes of a hanging server"
        " start up to 4s apart, and a shorter max_gap would break every bad run of a hanging"
        " server (leave max_gap out to have it derived)"
    ) in problems


def test_protocol_defaults(example: dict[str, Any]) -> None:
    config = parse_config(example)
    de1 = config.platforms["eu-de-1"].services
    assert de1["pop3"].severity == 3
    assert de1["imap"].severity == 2
    us = config.platforms["us"].services
    assert us["imap"].effective_port == 993  # type: ignore[union-attr]


def test_config_is_frozen(example: dict[str, Any]) -> None:
    config = parse_config(example)
    with pytest.raises(Exception, match="frozen"):
        config.vantage = "nyc"  # type: ignore[misc]


def test_load_config_reads_the_file() -> None:
    assert load_config(EXAMPLE).vantage == "fra"


def test_secret_warnings_and_strict_mode(
    example: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OUTAGEWATCH_IMAP_PASSWORD", raising=False)
    monkeypatch.setenv("OUTAGEWATCH_SMTP_PASSWORD", "relay-secret-value")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(example))
    assert main(["check-config", "-c", str(path)]) == 0
    assert "OUTAGEWATCH_IMAP_PASSWORD is not set" in capsys.readouterr().err
    assert main(["check-config", "--secrets", "-c", str(path)]) == 2
    captured = capsys.readouterr()
    assert "platforms.eu-de-1.services.imap.auth.password_env: environment variable" in captured.err
    assert "relay-secret-value" not in captured.out + captured.err


def test_vantages_and_quorum(example: dict[str, Any]) -> None:
    example["vantages"] = ["fra", "nyc", "sfo"]
    imap = example["platforms"]["eu-de-1"]["services"]["imap"]
    imap["vantages"] = ["fra", "nyc"]
    config = parse_config(example)
    assert config.quorum_for("eu-de-1", "imap") == 2  # a majority of its two
    assert config.quorum_for("eu-de-1", "smtp") == 2  # a majority of all three
    assert config.vantages_for("us", "pop3") == ["fra", "nyc", "sfo"]
    imap["vantages"] = ["fra", "mars"]
    imap["quorum"] = 3
    example["vantage"] = "tokyo"
    problems = problems_of(example)
    assert "vantages: must include this instance's vantage 'tokyo'" in problems
    assert "platforms.eu-de-1.services.imap.vantages: unknown vantages ['mars']" in problems
    assert (
        "platforms.eu-de-1.services.imap.quorum: must not exceed the number of its vantages"
        in problems
    )


def test_per_phase_metrics_are_opt_in_and_checked(example: dict[str, Any]) -> None:
    assert parse_config(example).metrics.phases is False
    example["metrics"] = {"phases": True}
    assert parse_config(example).metrics.phases is True
    example["metrics"] = {"phases": "sometimes"}
    assert any(p.startswith("metrics.phases: ") for p in problems_of(example))
    example["metrics"] = {"phase": True}
    assert any(p.startswith("metrics.phase: unknown key") for p in problems_of(example))
