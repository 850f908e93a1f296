"""deploy/prometheus: the config and rules load in promtool, the rule unit tests pass, and
every alert is tested both firing and silent."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.conftest import PROMETHEUS

RULES = PROMETHEUS / "rules.yml"
ALERTS = {
    "OutagewatchDown": "critical",
    "OutagewatchNoProbes": "critical",
    "OutagewatchOutboxStuck": "critical",
    "OutagewatchMailsFailing": "warning",
    "OutagewatchEventLoopLag": "warning",
    "OutagewatchConfigReloadFailed": "warning",
    "ServiceBadFor5Minutes": "warning",
    "ServiceOutage": "critical",
    "CertificateExpiresSoon": "warning",
    "CertificateExpiresVerySoon": "critical",
}


def promtool_run(promtool: str, *args: str | Path) -> str:
    done = subprocess.run(  # noqa: S603 - promtool, arguments of our own
        [promtool, *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_check_rules(promtool: str) -> None:
    assert f"SUCCESS: {len(ALERTS)} rules found" in promtool_run(promtool, "check", "rules", RULES)


def test_promtool_check_config(promtool: str) -> None:
    # Also loads rules.yml and slo_rules.yml through rule_files, relative to scrape.yml.
    output = promtool_run(promtool, "check", "config", PROMETHEUS / "scrape.yml")
    assert "SUCCESS: 2 rule files found" in output


def test_promtool_rule_unit_tests(promtool: str) -> None:
    assert "SUCCESS" in promtool_run(promtool, "test", "rules", PROMETHEUS / "rules_test.yml")


def test_the_alerts_with_severity_and_what_to_do() -> None:
    rules = alert_rules()
    assert {rule["alert"]: rule["labels"]["severity"] for rule in rules} == ALERTS
    for rule in rules:
        annotations = rule["annotations"]
        assert set(annotations) >= {"summary", "description"}, rule["alert"]
        assert "\n" not in annotations["summary"], rule["alert"]


@pytest.mark.parametrize("alert", sorted(ALERTS))
def test_each_alert_is_tested_firing_and_silent(alert: str) -> None:
    tests = yaml.safe_load((PROMETHEUS / "rules_test.yml").read_text())["tests"]
    cases = [
        case for test in tests for case in test["alert_rule_test"] if case["alertname"] == alert
    ]
    assert any(case["exp_alerts"] for case in cases), f"{alert} is never tested firing"
    assert any(not case["exp_alerts"] for case in cases), f"{alert} is never tested silent"


def test_scrape_job_every_15_seconds() -> None:
    config = yaml.safe_load((PROMETHEUS / "scrape.yml").read_text())
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "outagewatch"]
    assert job["scrape_interval"] == "15s"
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert config["rule_files"] == ["rules.yml", "slo_rules.yml"]
    # The rules select the job by this name.
    assert all('job="outagewatch"' in r["expr"] for r in alert_rules() if "up{" in r["expr"])
