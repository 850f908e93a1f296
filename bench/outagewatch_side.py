"""Runs outagewatch's probe engine (engine_runner.py) in its own process and reads its result."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.layout import TargetSpec, to_json

# Start-up (migrations, restoring 10,000 services, scheduling their jobs) is not measured,
# but it is bounded: a run that does not end in time is killed and reported as failed.
STARTUP_ALLOWANCE = 300.0


@dataclass(frozen=True)
class EngineProbe:
    name: str
    handed_over: float  # perf_counter: the probe's own clock stopped just before
    duration: float
    ok: bool
    protocol: str


@dataclass(frozen=True)
class EngineRun:
    window: tuple[float, float]
    cpu: float
    startup: float
    peak_rss_kb: int
    lags: list[float]
    gc_pauses: list[float]
    probes: list[EngineProbe]
    probes_on: str = ""  # daemon_process.probes_on(): workers or the thread


def run_engine(
    targets: list[TargetSpec],
    *,
    interval: float,
    warmup: float,
    duration: float,
    workdir: Path,
    cpu: int | None,
    probe_workers: str | None = None,
) -> EngineRun:
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "samples.db"
    for stale in workdir.glob("samples.db*"):
        stale.unlink()
    spec: dict[str, Any] = {
        "targets": to_json(targets),
        "interval": interval,
        "warmup": warmup,
        "duration": duration,
        "database": str(database),
        "cpu": cpu,
        "probe_workers": probe_workers,
    }
    spec_file, out_file = workdir / "engine-spec.json", workdir / "engine-result.json"
    spec_file.write_text(json.dumps(spec))
    with (workdir / "engine.log").open("ab") as log:
        subprocess.run(  # noqa: S603 - our own module, our own files
            [sys.executable, "-m", "bench.engine_runner", str(spec_file), str(out_file)],
            stdout=log,
            stderr=log,
            check=True,
            timeout=STARTUP_ALLOWANCE + warmup + duration,
        )
    raw = json.loads(out_file.read_text())
    return EngineRun(
        window=(raw["window"][0], raw["window"][1]),
        cpu=raw["cpu"],
        startup=raw["startup"],
        peak_rss_kb=raw["peak_rss_kb"],
        lags=raw["lags"],
        gc_pauses=raw["gc_pauses"],
        probes=[EngineProbe(*item) for item in raw["probes"]],
        probes_on=raw.get("probes_on", ""),
    )
