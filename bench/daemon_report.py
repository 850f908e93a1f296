"""The report's section on the deployed daemon: one column per run, the targets of issue 13."""

from __future__ import annotations

import math
from collections.abc import Callable

from bench.daemon_figures import DaemonFigures
from outagewatch.metrics.exposition import SERIES_BUDGET

BIG_SCALE = 10_000
SCRAPE_LIMIT_MS = 500.0
EXPOSITION_LIMIT_MB = 5.0
HEALTHZ_LIMIT_MS = 50.0
ERROR_LIMIT_MS = 5.0
STARTUP_LIMIT_S = 3.0
RSS_LIMIT_MB = 200.0

Get = Callable[[DaemonFigures], float]
ROWS: list[tuple[str, Get, int, str]] = [
    ("probes/s", lambda f: f.rate, 1, ""),
    ("CPU s per 1,000 probes (scrapes included)", lambda f: f.cpu_per_1000, 2, ""),
    ("start-up to the first probe, s", lambda f: f.startup_s, 2, f"< {STARTUP_LIMIT_S:g}"),
    ("start-up to /readyz, s", lambda f: f.ready_s, 2, ""),
    ("peak RSS, MB", lambda f: f.peak_rss_mb, 1, f"< {RSS_LIMIT_MB:g}"),
    ("RSS at the end, MB", lambda f: f.rss_end_mb, 1, ""),
    ("scrapes in window", lambda f: float(f.scrapes), 0, ""),
    ("scrapes that failed (10 s timeout)", lambda f: float(f.failed_scrapes), 0, "0"),
    ("scrape duration p50, ms", lambda f: f.scrape_p50_ms, 1, ""),
    ("scrape duration max, ms", lambda f: f.scrape_max_ms, 1, f"< {SCRAPE_LIMIT_MS:g}"),
    ("exposition, MB gzip", lambda f: f.exposition_mb, 2, f"< {EXPOSITION_LIMIT_MB:g}"),
    ("exposition, MB text", lambda f: f.exposition_raw_mb, 2, ""),
    ("series", lambda f: f.series, 0, ""),
    ("series per service", lambda f: f.series / f.targets, 1, f"<= {SERIES_BUDGET} + fixed"),
    ("/healthz during a scrape p50, ms", lambda f: f.healthz_in_scrape_p50_ms, 1, ""),
    ("/healthz during a scrape max, ms", lambda f: f.healthz_in_scrape_max_ms, 1,
     f"< {HEALTHZ_LIMIT_MS:g}"),
    ("/healthz every 0.25 s p99, ms (loop lag)", lambda f: f.healthz_p99_ms, 1, ""),
    ("/healthz every 0.25 s max, ms", lambda f: f.healthz_max_ms, 1, ""),
    ("probes overlapping a scrape", lambda f: float(f.overlapped), 0, ""),
    ("timing error p50, overlapping a scrape, ms", lambda f: f.error_overlapped_p50_ms, 2, ""),
    ("timing error p99, overlapping a scrape, ms", lambda f: f.error_overlapped_p99_ms, 2,
     f"< {ERROR_LIMIT_MS:g}"),
    ("timing error max, overlapping a scrape, ms", lambda f: f.error_overlapped_max_ms, 2, ""),
    ("timing error p50, the other probes, ms", lambda f: f.error_rest_p50_ms, 2, ""),
    ("timing error p99, the other probes, ms", lambda f: f.error_rest_p99_ms, 2, ""),
    ("timing error max, the other probes, ms", lambda f: f.error_rest_max_ms, 2, ""),
    ("failed probes", lambda f: float(f.failed), 0, ""),
    ("probes not paired with a record", lambda f: float(f.unmatched), 0, ""),
]  # fmt: skip


def _num(value: float, digits: int) -> str:
    return "—" if math.isnan(value) else f"{value:,.{digits}f}"


def table(runs: list[DaemonFigures]) -> str:
    heads = [f"{f.targets:,} / {f.scrape_every:g} s" for f in runs]
    rows = [["services / scraped every", *heads, "target"]]
    rows += [[name, *(_num(get(f), d) for f in runs), target] for name, get, d, target in ROWS]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:-1], widths[1:-1], strict=True)),
        ]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def verdicts(runs: list[DaemonFigures]) -> list[str]:
    big = [f for f in runs if f.targets == BIG_SCALE and f.scrape_every == 15.0]
    if not big:
        return [f"-      the deployed daemon at {BIG_SCALE:,} services: not run (--full)"]
    f = big[0]
    checks = [
        (f"scrape max {f.scrape_max_ms:.0f} ms", f.scrape_max_ms < SCRAPE_LIMIT_MS),
        (f"exposition {f.exposition_mb:.2f} MB gzip", f.exposition_mb < EXPOSITION_LIMIT_MB),
        (f"/healthz in a scrape max {f.healthz_in_scrape_max_ms:.0f} ms",
         f.healthz_in_scrape_max_ms < HEALTHZ_LIMIT_MS),
        (f"timing error p99 overlapping a scrape {f.error_overlapped_p99_ms:.2f} ms",
         f.error_overlapped_p99_ms < ERROR_LIMIT_MS),
        (f"start-up {f.startup_s:.1f} s", f.startup_s < STARTUP_LIMIT_S),
        (f"peak RSS {f.peak_rss_mb:.0f} MB", f.peak_rss_mb < RSS_LIMIT_MB),
    ]  # fmt: skip
    return [f"{'MET   ' if ok else 'MISSED'} {BIG_SCALE:,} services, scraped every 15 s: {what}"
            for what, ok in checks]  # fmt: skip


def render(runs: list[DaemonFigures], failures: list[str]) -> list[str]:
    lines = [f"the deployed daemon FAILED: {failure}" for failure in failures]
    if not runs:
        return [*lines, "the deployed daemon: no run completed"]
    first = runs[0]
    return [
        f"== the deployed daemon (outagewatch run, API on, SQLite): services probed every "
        f"{first.interval:g} s, {first.seconds:g} s measured, /metrics scraped with gzip, "
        f"probes on {first.probes_on or '(not recorded)'}",
        table(runs),
        *lines,
    ]
