"""The figures of one run of the deployed daemon (daemon_runner.py): what an operator's
Prometheus and health checks see, and the timing error of the probes that overlapped a
scrape apart from the rest."""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.daemon_process import DaemonProbe
from bench.daemon_runner import DaemonRun, Scrape
from bench.figures import PerProbe
from bench.layout import TargetSpec
from bench.matching import Measured, pair
from bench.stats import percentile

MS = 1000.0
MB = 1e6


@dataclass(frozen=True)
class DaemonFigures(PerProbe):
    targets: int
    interval: float
    scrape_every: float
    seconds: float
    probes: int
    failed: int
    cpu: float
    startup_s: float  # spawn to the first connection a simulator accepted
    ready_s: float  # spawn to /readyz answering 200
    peak_rss_mb: float
    rss_end_mb: float
    scrapes: int
    scrape_p50_ms: float
    scrape_max_ms: float
    exposition_mb: float  # gzip, as Prometheus fetches it
    exposition_raw_mb: float
    series: float
    healthz_in_scrape_p50_ms: float
    healthz_in_scrape_max_ms: float
    healthz_p99_ms: float  # every HEALTHZ_EVERY through the window
    healthz_max_ms: float
    overlapped: int  # probes whose transaction overlapped a scrape
    error_overlapped_p50_ms: float
    error_overlapped_p99_ms: float
    error_overlapped_max_ms: float
    error_rest_p50_ms: float
    error_rest_p99_ms: float
    error_rest_max_ms: float
    unmatched: int
    failed_scrapes: int = 0
    probes_on: str = ""  # daemon_process.probes_on(); empty in runs from before it


def of_daemon(
    run: DaemonRun,
    targets: list[TargetSpec],
    interval: float,
    scrape_every: float,
    records: dict[str, list[tuple[float, float]]],
) -> DaemonFigures:
    server_of = {t.name: t.server for t in targets}
    start, end = run.window
    inside = [p for p in run.probes if start <= p.start + p.duration <= end]
    spans = [(s.started, s.started + s.seconds) for s in run.scrapes]

    def overlaps(begin: float, finish: float) -> bool:
        return any(begin < s_end and finish > s_begin for s_begin, s_end in spans)

    hit = [p for p in inside if overlaps(p.start, p.start + p.duration)]
    rest = [p for p in inside if not overlaps(p.start, p.start + p.duration)]
    hit_pairs = pair(_measured(hit, server_of), records)
    rest_pairs = pair(_measured(rest, server_of), records)
    accepts = [a for recs in records.values() for a, _ in recs if a >= run.spawned]
    during = [s.healthz for s in run.scrapes]
    healthz = [seconds for at, seconds in run.healthz if start <= at <= end]
    return DaemonFigures(
        targets=len(targets),
        interval=interval,
        scrape_every=scrape_every,
        seconds=end - start,
        probes=len(inside),
        failed=sum(not p.ok for p in inside),
        cpu=run.cpu,
        startup_s=min(accepts, default=math.nan) - run.spawned,
        ready_s=run.ready - run.spawned,
        peak_rss_mb=run.peak_rss_kb / 1024,
        rss_end_mb=run.rss_end_kb / 1024,
        scrapes=len(run.scrapes),
        scrape_p50_ms=percentile([s.seconds for s in run.scrapes], 50) * MS,
        scrape_max_ms=max((s.seconds for s in run.scrapes), default=math.nan) * MS,
        exposition_mb=_last(run.scrapes, "size") / MB,
        exposition_raw_mb=_last(run.scrapes, "raw_size") / MB,
        series=_last(run.scrapes, "series"),
        healthz_in_scrape_p50_ms=percentile(during, 50) * MS,
        healthz_in_scrape_max_ms=max(during, default=math.nan) * MS,
        healthz_p99_ms=percentile(healthz, 99) * MS,
        healthz_max_ms=max(healthz, default=math.nan) * MS,
        overlapped=len(hit),
        error_overlapped_p50_ms=percentile(hit_pairs.errors, 50) * MS,
        error_overlapped_p99_ms=percentile(hit_pairs.errors, 99) * MS,
        error_overlapped_max_ms=max(hit_pairs.errors, default=math.nan) * MS,
        error_rest_p50_ms=percentile(rest_pairs.errors, 50) * MS,
        error_rest_p99_ms=percentile(rest_pairs.errors, 99) * MS,
        error_rest_max_ms=max(rest_pairs.errors, default=math.nan) * MS,
        unmatched=hit_pairs.unmatched + rest_pairs.unmatched,
        failed_scrapes=run.failed_scrapes,
        probes_on=run.probes_on,
    )


def _measured(probes: list[DaemonProbe], server_of: dict[str, str]) -> list[Measured]:
    return [Measured.exact(server_of[p.name], p.start + p.duration, p.duration) for p in probes]


def _last(scrapes: list[Scrape], name: str) -> float:
    return float(getattr(scrapes[-1], name)) if scrapes else math.nan
