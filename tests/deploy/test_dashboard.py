"""deploy/grafana: the dashboard is valid JSON with the panels an on-call engineer needs, its
queries parse, and provisioning points Grafana at it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy import dashboard
from tests.deploy.conftest import DASHBOARD, DEPLOY, PROMETHEUS

PLATFORM_QUERY = "label_values(outagewatch_probe_success, platform)"


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    return dashboard.load()


def panel(board: dict[str, Any], metric: str, *kinds: str) -> dict[str, Any]:
    """The first panel (of one of ``kinds``, if given) whose queries read ``metric``."""
    for found in dashboard.panels(board):
        if kinds and found["type"] not in kinds:
            continue
        if any(metric in target["expr"] for target in found.get("targets", [])):
            return found
    raise AssertionError(f"no panel {kinds or ''} reads {metric}")


def threshold_values(found: dict[str, Any]) -> list[float]:
    steps = found["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [step["value"] for step in steps if step["value"] is not None]


def test_platform_variable(board: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in board["templating"]["list"]}
    platform = variables["platform"]
    assert platform["query"]["query"] == PLATFORM_QUERY == platform["definition"]
    assert platform["includeAll"] and platform["multi"]
    assert variables["datasource"]["query"] == "prometheus"
    # Every service-level query honours the variable.
    for where, expr in dashboard.queries(board):
        if (
            re.search(r"outagewatch_(probe|service|incidents)_", expr)
            and "label_values" not in expr
        ):
            assert 'platform=~"$platform"' in expr, where


def test_panels_for_the_runbook(board: dict[str, Any]) -> None:
    duration = panel(board, "outagewatch_probe_duration_seconds_bucket")
    exprs = [t["expr"] for t in duration["targets"]]
    assert all("histogram_quantile(" in e and "by (le, protocol, vantage)" in e for e in exprs)
    assert 30 in threshold_values(duration)  # slow_after, the contract's 30 s
    assert duration["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
    assert {300, 900} <= set(
        threshold_values(panel(board, "outagewatch_service_bad_since_seconds"))
    )
    over_time = ("state-timeline", "timeseries")
    panel(board, "outagewatch_service_outage{", *over_time)
    panel(board, "outagewatch_service_in_maintenance{", *over_time)
    panel(board, "outagewatch_incidents_open")
    outbox = panel(board, "outagewatch_outbox_pending")
    assert any("outagewatch_outbox_oldest_pending_seconds" in t["expr"] for t in outbox["targets"])
    mails = panel(board, "outagewatch_notifications_total")
    assert any(
        "rate(outagewatch_notifications_total[5m])" in t["expr"]
        and "by (kind, result)" in t["expr"]
        for t in mails["targets"]
    )


def test_error_budget_panel_reads_the_slo_rules_budgets(board: dict[str, Any]) -> None:
    budget = panel(board, "outagewatch:slo_availability_budget", "bargauge")
    exprs = [t["expr"] for t in budget["targets"]]
    assert any("outagewatch:slo_latency_budget" in e for e in exprs)
    # Over the range shown, every service: a share of the budget left, red once overspent.
    assert all("[$__range]" in e and "by (platform, service, protocol)" in e for e in exprs)
    assert all(t["instant"] for t in budget["targets"])
    assert budget["fieldConfig"]["defaults"]["unit"] == "percent"
    assert threshold_values(budget) == [0, 25]
    recorded = (PROMETHEUS / "slo_rules.yml").read_text()
    for name in ("outagewatch:slo_availability_budget", "outagewatch:slo_latency_budget"):
        assert f"record: {name}\n" in recorded


def test_panels_are_unique_and_use_the_datasource_variable(board: dict[str, Any]) -> None:
    ids = [p["id"] for p in dashboard.panels(board)]
    assert len(ids) == len(set(ids))
    for found in dashboard.panels(board):
        if found["type"] != "row":
            assert found["datasource"]["uid"] == "${datasource}", found["title"]
            assert found["targets"], found["title"]


def test_queries_parse(promtool: str, board: dict[str, Any], tmp_path: Path) -> None:
    """promtool has no PromQL syntax check of its own in Debian's version: every query goes
    into a recording rule, with Grafana's variables replaced, and `check rules` parses it."""
    rules = []
    for i, (where, expr) in enumerate(dashboard.queries(board)):
        if expr.startswith("label_values("):
            continue
        expr = expr.replace("$__rate_interval", "1m").replace("$__range", "1d")
        expr = expr.replace("$platform", ".*")
        rules.append({"record": f"dashboard:query_{i}", "expr": expr, "labels": {"where": where}})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(  # noqa: S603 - promtool, arguments of our own
        [promtool, "check", "rules", str(path)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_provisioning_loads_this_dashboard_from_the_prometheus_of_compose() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    providers = yaml.safe_load((provisioning / "dashboards" / "outagewatch.yml").read_text())
    (provider,) = providers["providers"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    target = f"{provider['options']['path']}/{DASHBOARD.name}"
    assert f"./grafana/{DASHBOARD.name}:{target}:ro" in mounts
    for kind in ("datasources", "dashboards"):
        assert f"./grafana/provisioning/{kind}:/etc/grafana/provisioning/{kind}:ro" in mounts
    json.loads(DASHBOARD.read_text())  # strict JSON, as Grafana reads it
