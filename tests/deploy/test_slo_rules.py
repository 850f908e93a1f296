"""The SLO rules: the shipped file is what `outagewatch slo rules` makes of the example config,
promtool loads it and its unit tests pass (fast, slow and ticket burns firing, healthy and
maintenance silent), and the budget rules stay two however many services there are."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from outagewatch.cli.main import main
from outagewatch.config import parse_config
from outagewatch.reporting.slo_rules import slo_rules
from tests.deploy.conftest import PROMETHEUS, ROOT
from tests.deploy.kubernetes import CRD_SCHEMAS
from tests.deploy.test_prometheus import promtool_run

SLO_RULES = PROMETHEUS / "slo_rules.yml"
SLO_TESTS = PROMETHEUS / "slo_rules_test.yml"
EXAMPLE = ROOT / "config" / "outagewatch.example.yaml"
ALERTS = {
    f"{sli}{kind}": severity
    for sli in ("Availability", "Latency")
    for kind, severity in (("FastBurn", "critical"), ("SlowBurn", "critical"),
                           ("BudgetBurn", "warning"))
}  # fmt: skip


def rules_of(text: str) -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(text)["groups"] for rule in group["rules"]]


def test_the_shipped_file_is_what_the_command_makes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slo", "rules", "-c", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out == SLO_RULES.read_text(), (
        "regenerate: outagewatch slo rules -c config/outagewatch.example.yaml"
        " > deploy/prometheus/slo_rules.yml"
    )


def test_promtool_check_rules(promtool: str) -> None:
    count = len(rules_of(SLO_RULES.read_text()))
    assert count == 2 + 2 * 5 + len(ALERTS)  # budgets, ratios per window, alerts
    assert f"SUCCESS: {count} rules found" in promtool_run(promtool, "check", "rules", SLO_RULES)


def test_promtool_rule_unit_tests(promtool: str) -> None:
    assert "SUCCESS" in promtool_run(promtool, "test", "rules", SLO_TESTS)


@pytest.mark.parametrize("alert", sorted(ALERTS))
def test_each_alert_is_tested_firing_and_silent(alert: str) -> None:
    rules = {r["alert"]: r for r in rules_of(SLO_RULES.read_text()) if "alert" in r}
    assert rules[alert]["labels"]["severity"] == ALERTS[alert]
    tests = yaml.safe_load(SLO_TESTS.read_text())["tests"]
    cases = [case for t in tests for case in t["alert_rule_test"] if case["alertname"] == alert]
    assert any(case["exp_alerts"] for case in cases), f"{alert} is never tested firing"
    assert any(not case["exp_alerts"] for case in cases), f"{alert} is never tested silent"


@pytest.fixture
def many() -> dict[str, Any]:
    """The example with 200 more services on eu-de-1, three of them with objectives of their
    own, and a platform whose services all differ from the top level."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    services = data["platforms"]["eu-de-1"]["services"]
    for n in range(200):
        services[f"imap-{n}"] = copy.deepcopy(services["imap"])
    services["imap-7"]["slo"] = {"availability": 99.0}
    services["imap-8"]["slo"] = {"availability": 99.0, "latency": {"under": "1s"}}
    services["imap-9"]["slo"] = {"latency": {"objective": 95}}
    data["platforms"]["us"]["slo"] = {"availability": 99.99, "latency": {"under": "250ms"}}
    return data


def test_budget_rules_name_only_the_exceptions(many: dict[str, Any]) -> None:
    availability, latency = rules_of(slo_rules(parse_config(many)))[:2]
    terms = availability["expr"].strip().split("\nor\n")
    assert terms == [
        "0.001 * group by (platform, service, protocol)"
        ' (outagewatch_probe_success{platform="eu-de-1",service!~"imap-7|imap-8"})',
        "0.01 * group by (platform, service, protocol)"
        ' (outagewatch_probe_success{platform="eu-de-1",service=~"imap-7|imap-8"})',
        "0.0001 * group by (platform, service, protocol)"
        ' (outagewatch_probe_success{platform="us"})',
        "0.005 * group by (platform, service, protocol)"
        ' (outagewatch_probe_success{platform="us-2"})',
    ]
    terms = latency["expr"].strip().split("\nor\n")
    assert len(terms) == 6
    assert terms[0].endswith(
        '{platform="eu-de-1",service!~"delivery|imap-8|imap-9"}), "le", "5.0", "", "")'
    )
    assert any('service="imap-8"}), "le", "1.0"' in t for t in terms), terms
    assert any(t.startswith("label_replace(0.05 *") and 'service="imap-9"' in t for t in terms)
    assert any('{platform="us"}), "le", "0.25"' in t for t in terms), terms


def test_rules_of_another_config_load_in_promtool(
    promtool: str, many: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "slo_rules.yml"
    path.write_text(slo_rules(parse_config(many)))
    assert "SUCCESS: 18 rules found" in promtool_run(promtool, "check", "rules", path)


def test_as_a_prometheus_rule_for_the_operator(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slo", "rules", "--kubernetes", "-c", str(EXAMPLE)]) == 0
    rule = yaml.safe_load(capsys.readouterr().out)
    assert (rule["kind"], rule["metadata"]["name"]) == ("PrometheusRule", "outagewatch-slo")
    assert rule["spec"]["groups"] == yaml.safe_load(SLO_RULES.read_text())["groups"]
    jsonschema.validate(rule, CRD_SCHEMAS["PrometheusRule"])
