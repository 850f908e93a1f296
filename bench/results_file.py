"""results.json: what a run measured, written at its end and readable again.

``python -m bench --report-from results.json`` prints a run's report again with the current
report code (the tables of docs/BENCHMARKS.md come from there).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.daemon_figures import DaemonFigures
from bench.detection_latency import DetectionRun
from bench.figures import Figures
from bench.harness import Plan, Results
from bench.isolation_figures import IsolationFigures, WindowFigures

Pair = tuple[Figures, Figures | None]


def dump(path: Path, results: Results, machine: dict[str, str]) -> None:
    data = {
        "machine": machine,
        "plan": dataclasses.asdict(results.plan),
        "scales": [_pair_out(pair) for pair in results.scales],
        "per_protocol": {p: _pair_out(pair) for p, pair in results.per_protocol.items()},
        "daemon": [dataclasses.asdict(f) for f in results.daemon],
        "daemon_failures": results.daemon_failures,
        "hostile": [_figures_out(f) for f in results.hostile] if results.hostile else None,
        "isolation": dataclasses.asdict(results.isolation) if results.isolation else None,
        "detection": [
            {
                "rule_true_at": r.rule_true_at.isoformat(),
                "latency": r.latency,
                "to_decision": r.to_decision,
            }
            for r in results.detection
        ],
    }
    path.write_text(json.dumps(data, indent=1))


def load(path: Path) -> tuple[Results, dict[str, str]]:
    data = json.loads(path.read_text())
    plan = dict(data["plan"])
    for key in ("scales", "daemon_scales"):
        plan[key] = tuple(plan.get(key, ()))
    plan.setdefault("hostile_scale", 0)  # a run from before these rows had none
    plan.setdefault("isolation_scale", 0)
    results = Results(Plan(**plan))
    results.scales = [_pair_in(item) for item in data["scales"]]
    results.per_protocol = {p: _pair_in(item) for p, item in data["per_protocol"].items()}
    results.daemon = [DaemonFigures(**item) for item in data.get("daemon", [])]
    results.daemon_failures = data.get("daemon_failures", [])
    if data.get("hostile"):
        quiet, hostile = data["hostile"]
        results.hostile = _figures_in(quiet), _figures_in(hostile)
    if data.get("isolation"):
        results.isolation = _isolation_in(data["isolation"])
    for item in data["detection"]:
        at = datetime.fromisoformat(item["rule_true_at"])
        results.detection.append(
            DetectionRun(
                rule_true_at=at,
                recorded_at=at + timedelta(seconds=item["to_decision"]),
                mailed_at=at + timedelta(seconds=item["latency"]),
            )
        )
    return results, data["machine"]


def _pair_out(pair: Pair) -> dict[str, Any]:
    ours, theirs = pair
    return {
        "outagewatch": _figures_out(ours),
        "blackbox_exporter": _figures_out(theirs) if theirs is not None else None,
    }


def _figures_out(figures: Figures) -> dict[str, Any]:
    data: dict[str, Any] = dataclasses.asdict(figures)
    # Derived figures too, for readers of the file; `load` ignores them.
    data.update(rate=figures.rate, cpu_per_1000=figures.cpu_per_1000, cpu_util=figures.cpu_util)
    return data


def _pair_in(item: dict[str, Any]) -> Pair:
    theirs = item["blackbox_exporter"]
    return _figures_in(item["outagewatch"]), _figures_in(theirs) if theirs else None


def _figures_in(data: dict[str, Any]) -> Figures:
    names = {field.name for field in dataclasses.fields(Figures)}
    return Figures(**{key: value for key, value in data.items() if key in names})


def _isolation_in(data: dict[str, Any]) -> IsolationFigures:
    windows = {key: [WindowFigures(**item) for item in data[key]] for key in ("windows", "pooled")}
    return IsolationFigures(**{**data, **windows})
