"""The figures of one run of one tool, computed the same way for both tools."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.blackbox_driver import DriverResult
from bench.layout import TargetSpec
from bench.matching import Measured, pair
from bench.outagewatch_side import EngineRun
from bench.stats import percentile

MS = 1000.0


class PerProbe:
    """Rates of a run that counted ``probes`` in ``seconds`` and used ``cpu`` seconds."""

    probes: int
    seconds: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.probes / self.seconds

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu / self.probes * 1000 if self.probes else math.nan


@dataclass(frozen=True)
class Figures(PerProbe):
    tool: str
    targets: int
    interval: float
    seconds: float  # length of the measurement window
    probes: int  # completed inside the window
    failed: int  # of those, probes that did not succeed
    cpu: float  # CPU seconds of the tool's process inside the window
    peak_rss_mb: float
    lag_p50_ms: float  # NaN where the figure does not exist (Go has no event loop to lag)
    lag_p99_ms: float
    lag_max_ms: float
    error_p50_ms: float
    error_p99_ms: float
    error_max_ms: float
    duration_p50_ms: float  # what the tool measured
    server_p50_ms: float  # what the simulator saw of the same connections
    unmatched: int
    startup_s: float = math.nan
    full_gcs: float = math.nan  # full (generation 2) collections inside the window
    full_gc_max_ms: float = math.nan  # the longest, during which nothing else ran
    sim_cpu_util: float = math.nan  # share of a core the simulators used meanwhile
    probes_on: str = ""  # outagewatch's: its probe workers or the probe thread

    @property
    def offered_rate(self) -> float:
        return self.targets / self.interval

    @property
    def cpu_util(self) -> float:
        return self.cpu / self.seconds


def of_outagewatch(
    run: EngineRun,
    targets: list[TargetSpec],
    interval: float,
    records: dict[str, list[tuple[float, float]]],
) -> Figures:
    server_of = {t.name: t.server for t in targets}
    start, end = run.window
    inside = [p for p in run.probes if start <= p.handed_over <= end]
    measured = [Measured.exact(server_of[p.name], p.handed_over, p.duration) for p in inside]
    return _figures(
        "outagewatch",
        targets,
        interval,
        (start, end),
        measured,
        records,
        failed=sum(not p.ok for p in inside),
        cpu=run.cpu,
        peak_rss_kb=run.peak_rss_kb,
        lags=run.lags,
        startup=run.startup,
        gc_pauses=run.gc_pauses,
        probes_on=run.probes_on,
    )


def of_blackbox(
    result: DriverResult,
    targets: list[TargetSpec],
    interval: float,
    records: dict[str, list[tuple[float, float]]],
    peak_rss_kb: int,
) -> Figures:
    server_of = {t.name: t.server for t in targets}
    start, end = result.window
    inside = [p for p in result.probes if start <= p.received <= end]
    measured = [Measured.within(server_of[p.name], p.sent, p.received, p.duration) for p in inside]
    return _figures(
        "blackbox_exporter",
        targets,
        interval,
        (start, end),
        measured,
        records,
        failed=sum(not p.ok for p in inside) + result.failed_requests,
        cpu=result.cpu,
        peak_rss_kb=peak_rss_kb,
        lags=None,
    )


def _figures(
    tool: str,
    targets: list[TargetSpec],
    interval: float,
    window: tuple[float, float],
    measured: list[Measured],
    records: dict[str, list[tuple[float, float]]],
    *,
    failed: int,
    cpu: float,
    peak_rss_kb: int,
    lags: list[float] | None,
    startup: float = math.nan,
    gc_pauses: list[float] | None = None,
    probes_on: str = "",
) -> Figures:
    paired = pair(measured, records)
    return Figures(
        tool=tool,
        targets=len(targets),
        interval=interval,
        seconds=window[1] - window[0],
        probes=len(measured),
        failed=failed,
        cpu=cpu,
        peak_rss_mb=peak_rss_kb / 1024,
        lag_p50_ms=percentile(lags, 50) * MS if lags is not None else math.nan,
        lag_p99_ms=percentile(lags, 99) * MS if lags is not None else math.nan,
        lag_max_ms=max(lags, default=math.nan) * MS if lags is not None else math.nan,
        error_p50_ms=percentile(paired.errors, 50) * MS,
        error_p99_ms=percentile(paired.errors, 99) * MS,
        error_max_ms=max(paired.errors, default=math.nan) * MS,
        duration_p50_ms=percentile([m.duration for m in measured], 50) * MS,
        server_p50_ms=percentile(paired.server_durations, 50) * MS,
        unmatched=paired.unmatched,
        startup_s=startup,
        full_gcs=float(len(gc_pauses)) if gc_pauses is not None else math.nan,
        full_gc_max_ms=max(gc_pauses, default=0.0) * MS if gc_pauses is not None else math.nan,
        probes_on=probes_on,
    )
