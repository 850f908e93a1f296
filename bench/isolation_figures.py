"""The figures of the deployed daemon's quiet and disturbed windows (isolation_runner.py):
per window in the order they ran, and pooled by kind (every window of a kind together)."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.daemon_process import DaemonProbe
from bench.figures import PerProbe
from bench.isolation_runner import IsolationRun, Window
from bench.layout import TargetSpec
from bench.matching import Measured, pair
from bench.stats import percentile

MS = 1000.0
POOLED = 0  # the round of a kind's pooled figures


@dataclass(frozen=True)
class WindowFigures(PerProbe):
    """One window (``round`` from 1), or every window of its kind (``round`` POOLED).
    ``probes`` counts every probe the daemon completed in it, for the CPU per probe; the
    timing figures are the healthy targets' alone."""

    kind: str
    round: int
    seconds: float
    probes: int
    cpu: float  # the daemon's process tree
    healthy: int
    failed: int  # of the healthy probes
    error_p50_ms: float
    error_p99_ms: float
    error_max_ms: float
    unmatched: int
    healthz_p99_ms: float
    requests: int = 0  # to the status page
    answered: int = 0  # with 200
    statuses: dict[str, int] = field(default_factory=dict)  # "0": no answer
    page_p50_ms: float = math.nan
    page_p99_ms: float = math.nan
    page_max_ms: float = math.nan
    sent_rate: float = math.nan  # requests a second, as the visitors sent them
    late_max_ms: float = math.nan  # the visitors' own lag behind their schedule

    @property
    def cores_busy(self) -> float:
        return self.cpu / self.seconds if self.seconds else math.nan


@dataclass(frozen=True)
class IsolationFigures:
    targets: int  # healthy
    extra: int  # on the hostile servers
    interval: float
    window: float  # seconds planned (each window's own length is its ``seconds``)
    rate: float  # status requests per second offered
    probes_on: str
    windows: list[WindowFigures]  # in the order they ran
    pooled: list[WindowFigures]  # one per kind

    def kind(self, name: str) -> WindowFigures | None:
        return next((f for f in self.pooled if f.kind == name), None)


def of_isolation(
    run: IsolationRun,
    healthy: list[TargetSpec],
    extra: int,
    interval: float,
    window: float,
    rate: float,
    records: dict[str, list[tuple[float, float]]],
) -> IsolationFigures:
    figures = _Figures(run, {t.name: t.server for t in healthy}, records)
    kinds = list(dict.fromkeys(w.kind for w in run.windows))
    return IsolationFigures(
        targets=len(healthy),
        extra=extra,
        interval=interval,
        window=window,
        rate=rate,
        probes_on=run.probes_on,
        windows=[figures.of([w], w.round) for w in run.windows],
        pooled=[figures.of([w for w in run.windows if w.kind == k], POOLED) for k in kinds],
    )


@dataclass
class _Figures:
    run: IsolationRun
    server_of: dict[str, str]
    records: dict[str, list[tuple[float, float]]]

    def of(self, windows: list[Window], number: int) -> WindowFigures:
        def inside(at: float) -> bool:
            return any(w.start <= at <= w.end for w in windows)

        done = [p for p in self.run.probes if inside(p.start + p.duration)]
        healthy = [p for p in done if p.name in self.server_of]
        paired = pair(self._measured(healthy), self.records)
        healthz = [seconds for at, seconds in self.run.healthz if inside(at)]
        return WindowFigures(
            kind=windows[0].kind,
            round=number,
            seconds=sum(w.end - w.start for w in windows),
            probes=len(done),
            cpu=sum(w.cpu for w in windows),
            healthy=len(healthy),
            failed=sum(not p.ok for p in healthy),
            error_p50_ms=percentile(paired.errors, 50) * MS,
            error_p99_ms=percentile(paired.errors, 99) * MS,
            error_max_ms=max(paired.errors, default=math.nan) * MS,
            unmatched=paired.unmatched,
            healthz_p99_ms=percentile(healthz, 99) * MS,
            **_load(windows),
        )

    def _measured(self, probes: list[DaemonProbe]) -> list[Measured]:
        return [
            Measured.exact(self.server_of[p.name], p.start + p.duration, p.duration) for p in probes
        ]


def _load(windows: list[Window]) -> dict[str, Any]:
    requests = [r for w in windows for r in w.requests]
    if not requests:
        return {}
    answered = [r.seconds for r in requests if r.status == 200]
    # The rate achieved: requests after each window's first, over the time they took to send.
    sending = [(len(w.requests) - 1, w.requests[-1].sent - w.requests[0].sent) for w in windows]
    spent = sum(seconds for _, seconds in sending)
    return {
        "requests": len(requests),
        "answered": len(answered),
        "statuses": {str(k): v for k, v in sorted(Counter(r.status for r in requests).items())},
        "page_p50_ms": percentile(answered, 50) * MS,
        "page_p99_ms": percentile(answered, 99) * MS,
        "page_max_ms": max(answered, default=math.nan) * MS,
        "sent_rate": sum(count for count, _ in sending) / spent if spent > 0 else math.nan,
        "late_max_ms": max(r.sent - r.due for r in requests) * MS,
    }
