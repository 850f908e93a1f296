"""One benchmark run: the scales, the per-protocol CPU runs, healthy probes beside hostile
targets, the deployed daemon in quiet and disturbed windows, the deployed daemon under
scrapes, and the detection latency.

Both tools probe the same simulators, one tool after the other (never at once: they would
share the cores), over measurement windows of the same length at the same offered rate.
With two CPUs or more, the tool under measurement is pinned to CPU 0 and the simulators and
this harness to CPU 1, so that "one core" means one core for either tool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.blackbox import BlackboxProcess, read_cpu, read_peak_rss_kb
from bench.blackbox_driver import drive
from bench.daemon_figures import DaemonFigures, of_daemon
from bench.daemon_runner import run_daemon
from bench.detection_latency import DetectionRun, measure
from bench.figures import Figures, of_blackbox, of_outagewatch
from bench.isolation_figures import IsolationFigures, of_isolation
from bench.isolation_runner import GAP, KINDS, Disturbances, run_isolation
from bench.layout import TargetSpec, hostile_targets, make_targets, quiet_twins
from bench.outagewatch_side import run_engine
from bench.sim_client import SimProcess
from bench.stages import Stage, daemon_stages, protocol_stages, scale_stages

# In-flight connections of the last probes close within a few milliseconds of the run's end.
SETTLE = 0.5
# The daemon's one-time gc.collect() + gc.freeze(), one interval after the start, takes up
# to about 0.3 s at 10,000 services; the window starts after it.
FREEZE_MARGIN = 2.0


@dataclass(frozen=True)
class Plan:
    scales: tuple[int, ...] = (100, 1000)
    interval: float = 30.0
    # Measuring starts once every target has been probed once and the daemon has frozen its
    # long-lived objects (None: one interval and FREEZE_MARGIN): the steady state.
    warmup: float | None = None
    duration: float = 40.0
    per_protocol_targets: int = 1000
    per_protocol_interval: float = 10.0
    per_protocol_duration: float = 15.0
    detection_runs: int = 20
    latency: float = 0.025
    servers_per_protocol: int = 8
    pin: bool = True
    blackbox: str | None = None  # the binary; None leaves blackbox_exporter out
    # The deployed daemon (`outagewatch run`, API on, SQLite), scraped every scrape_every
    # at each of daemon_scales, and once more at the first scale every fast_scrape_every.
    daemon_scales: tuple[int, ...] = (1000,)
    scrape_every: float = 15.0
    fast_scrape_every: float | None = 5.0
    # Long enough for eight scrapes every 15 s: the timing error of the probes overlapping a
    # scrape is a p99 of some 300 probes at 10,000 services, not the largest of 90.
    daemon_duration: float = 120.0
    # Healthy probes' timing beside hostile_share of hostile targets, and beside as many
    # healthy ones (the quiet run): at hostile_scale healthy targets (0 leaves it out).
    hostile_scale: int = 1000
    hostile_share: float = 0.01
    # The deployed daemon with isolation_scale healthy services and hostile_share more, in
    # isolation_rounds rounds of a quiet window, one while status_rate requests a second
    # ask for the status page, and one while the extra servers are hostile (0 leaves it out).
    isolation_scale: int = 1000
    isolation_window: float = 40.0
    isolation_rounds: int = 2
    status_rate: float = 50.0
    # Only the isolation rows (the report shows nothing else).
    isolation_only: bool = False
    # The daemon's probe_workers setting (auto, or a count; 0: the probe thread); None
    # leaves the config's default.
    probe_workers: str | None = None


@dataclass
class Results:
    plan: Plan
    scales: list[tuple[Figures, Figures | None]] = field(default_factory=list)
    per_protocol: dict[str, tuple[Figures, Figures | None]] = field(default_factory=dict)
    detection: list[DetectionRun] = field(default_factory=list)
    daemon: list[DaemonFigures] = field(default_factory=list)
    daemon_failures: list[str] = field(default_factory=list)
    # The healthy targets' figures in the quiet run, and beside the hostile targets.
    hostile: tuple[Figures, Figures] | None = None
    isolation: IsolationFigures | None = None


Say = Callable[[str], None]


def run(plan: Plan, workdir: Path, say: Say) -> Results:
    pinned = plan.pin and len(os.sched_getaffinity(0)) >= 2
    tool_cpu, side_cpu = (0, 1) if pinned else (None, None)
    if side_cpu is not None:
        os.sched_setaffinity(0, {side_cpu})
    results = Results(plan)
    with SimProcess(plan.servers_per_protocol, plan.latency, cpu=side_cpu) as sim:
        bench = _Bench(plan, sim, tool_cpu, workdir, say, side_cpu)
        for stage in scale_stages(plan, sim):
            results.scales.append(bench.both(stage))
        for protocol, stage in protocol_stages(plan, sim):
            results.per_protocol[protocol] = bench.both(stage)
        if plan.hostile_scale:
            results.hostile = bench.beside_hostile(plan.hostile_scale, plan.hostile_share)
        if plan.isolation_scale and plan.daemon_scales:
            try:
                results.isolation = bench.isolation(plan.isolation_scale)
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                say(f"the daemon in quiet and disturbed windows: {exc}")
                results.daemon_failures.append(f"quiet and disturbed windows: {exc}")
        for stage, scrape_every in daemon_stages(plan, sim):
            try:
                results.daemon.append(bench.daemon(stage, scrape_every))
            except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
                # A daemon that never became ready (an overloaded core): say so, go on.
                say(f"{stage.label}: {exc}")
                results.daemon_failures.append(f"{stage.label}: {exc}")
    if plan.detection_runs:
        say(f"detection latency: {plan.detection_runs} runs of the daemon, compressed timings")
        (workdir / "detection").mkdir(parents=True, exist_ok=True)
        results.detection = asyncio.run(measure(plan.detection_runs, workdir / "detection"))
    return results


@dataclass
class _Bench:
    plan: Plan
    sim: SimProcess
    tool_cpu: int | None
    workdir: Path
    say: Say
    side_cpu: int | None = None

    def both(self, stage: Stage) -> tuple[Figures, Figures | None]:
        ours = self.outagewatch(stage)
        theirs = self.blackbox(stage) if self.plan.blackbox is not None else None
        return ours, theirs

    def warmup(self, interval: float) -> float:
        if self.plan.warmup is None:
            return interval + FREEZE_MARGIN
        return self.plan.warmup

    def beside_hostile(self, count: int, share: float) -> tuple[Figures, Figures]:
        """The healthy targets' figures beside healthy extra targets, then hostile ones."""
        assert self.sim.ports is not None and self.sim.hostile is not None
        healthy = make_targets(count, self.sim.ports)
        hostile = hostile_targets(max(1, round(count * share)), self.sim.hostile)
        runs = []
        for kind, extra in (("quiet", quiet_twins(hostile, self.sim.ports)), ("hostile", hostile)):
            stage = Stage(
                name=f"beside-{kind}-{count}",
                label=f"{count:,} targets beside {len(extra)} {kind} ones",
                targets=healthy + extra,
                interval=self.plan.interval,
                duration=self.plan.duration,
            )
            runs.append(self.outagewatch(stage, judged=healthy))
        return runs[0], runs[1]

    def outagewatch(self, stage: Stage, judged: list[TargetSpec] | None = None) -> Figures:
        """The engine probing ``stage.targets``; the figures of ``judged`` (default all)."""
        warmup = self.warmup(stage.interval)
        self.say(
            f"outagewatch        {stage.label}: {warmup + stage.duration:.0f} s after start-up"
        )
        self.sim.drain()
        sim_cpu = _CpuShare(self.sim.pid)
        engine = run_engine(
            stage.targets,
            interval=stage.interval,
            warmup=warmup,
            duration=stage.duration,
            workdir=self.workdir / f"outagewatch-{stage.name}",
            cpu=self.tool_cpu,
            probe_workers=self.plan.probe_workers,
        )
        time.sleep(SETTLE)
        if judged is not None:
            names = {t.name for t in judged}
            engine = dataclasses.replace(
                engine, probes=[p for p in engine.probes if p.name in names]
            )
        targets = stage.targets if judged is None else judged
        figures = of_outagewatch(engine, targets, stage.interval, self.sim.drain())
        return dataclasses.replace(figures, sim_cpu_util=sim_cpu.since())

    def daemon(self, stage: Stage, scrape_every: float) -> DaemonFigures:
        warmup = self.warmup(stage.interval)
        self.say(
            f"outagewatch run    {stage.label}: {warmup + stage.duration:.0f} s after start-up"
        )
        self.sim.drain()
        run = run_daemon(
            stage.targets,
            interval=stage.interval,
            scrape_every=scrape_every,
            warmup=warmup,
            duration=stage.duration,
            workdir=self.workdir / stage.name,
            cpu=self.tool_cpu,
            probe_workers=self.plan.probe_workers,
        )
        time.sleep(SETTLE)
        return of_daemon(run, stage.targets, stage.interval, scrape_every, self.sim.drain())

    def isolation(self, count: int) -> IsolationFigures:
        """The deployed daemon in quiet, status page and hostile windows (isolation_runner.py)."""
        plan = self.plan
        assert self.sim.ports is not None and self.sim.hostile is not None
        healthy = make_targets(count, self.sim.ports)
        extra = hostile_targets(max(1, round(count * plan.hostile_share)), self.sim.hostile)
        warmup = self.warmup(plan.interval)
        windows = plan.isolation_rounds * len(KINDS) * (plan.isolation_window + GAP)
        self.say(
            f"outagewatch run    {count:,} services beside {len(extra)} on hostile servers, "
            f"windows quiet/status/hostile: {warmup + windows:.0f} s after start-up"
        )
        self.sim.drain()
        run = run_isolation(
            healthy + extra,
            interval=plan.interval,
            warmup=warmup,
            window=plan.isolation_window,
            rounds=plan.isolation_rounds,
            disturbances=Disturbances(self.sim.control, self.side_cpu, plan.status_rate),
            workdir=self.workdir / f"daemon-isolation-{count}",
            cpu=self.tool_cpu,
            probe_workers=plan.probe_workers,
        )
        time.sleep(SETTLE)
        records = self.sim.drain()
        return of_isolation(
            run,
            healthy,
            len(extra),
            plan.interval,
            plan.isolation_window,
            plan.status_rate,
            records,
        )

    def blackbox(self, stage: Stage) -> Figures:
        assert self.plan.blackbox is not None
        warmup = self.warmup(stage.interval)
        self.say(f"blackbox_exporter  {stage.label}: {warmup + stage.duration:.0f} s")
        folder = self.workdir / f"blackbox-{stage.name}"
        folder.mkdir(parents=True, exist_ok=True)
        exporter = BlackboxProcess(self.plan.blackbox, folder, self.tool_cpu)
        exporter.start()
        try:
            self.sim.drain()
            sim_cpu = _CpuShare(self.sim.pid)
            driven = asyncio.run(
                drive(
                    exporter.url,
                    exporter.pid,
                    stage.targets,
                    stage.interval,
                    warmup,
                    stage.duration,
                )
            )
            peak = read_peak_rss_kb(exporter.pid)
        finally:
            exporter.stop()
        time.sleep(SETTLE)
        figures = of_blackbox(driven, stage.targets, stage.interval, self.sim.drain(), peak)
        return dataclasses.replace(figures, sim_cpu_util=sim_cpu.since())


class _CpuShare:
    """The share of a core a process used from now until `since` is called."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu = read_cpu(pid)
        self.wall = time.monotonic()

    def since(self) -> float:
        return (read_cpu(self.pid) - self.cpu) / (time.monotonic() - self.wall)


def stderr_say(started: float) -> Say:
    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.0f}s] {text}", file=sys.stderr, flush=True)

    return say
