"""The printed report: one table per scale, CPU by protocol, detection latency, the targets."""

from __future__ import annotations

import math
from collections.abc import Callable

from bench import daemon_report, hostile_report, isolation_report
from bench.figures import Figures
from bench.harness import Results
from bench.stats import median

Row = tuple[str, str, str, str, str]
Getter = Callable[[Figures], float]

ERROR_P99_LIMIT_MS = 5.0
LAG_P99_LIMIT_MS = 50.0
RSS_LIMIT_MB = 400.0
HTTP_CPU_RATIO_LIMIT = 2.0
BIG_SCALE = 10_000
KEPT_PACE_MARGIN = 0.02
ERROR_SCALE = 1_000


def _num(value: float, digits: int = 2) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:,.{digits}f}"


def _ratio(ours: float, theirs: float | None) -> str:
    if theirs is None or math.isnan(ours) or math.isnan(theirs) or theirs == 0:
        return "—"
    return f"{ours / theirs:.2f}"


def _table(rows: list[Row]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in (1, 2, 3)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths[:4]) + "  " + "-" * widths[4])
    return "\n".join(lines)


def scale_table(ours: Figures, theirs: Figures | None, latency_ms: float) -> str:
    def row(name: str, get: Getter, digits: int = 2, target: str = "") -> Row:
        mine = get(ours)
        other = get(theirs) if theirs is not None else math.nan
        return (name, _num(mine, digits), _num(other, digits), _ratio(mine, other), target)

    lag_target = (
        f"p99 < {LAG_P99_LIMIT_MS:g} ms at {BIG_SCALE:,}" if ours.targets == BIG_SCALE else ""
    )
    rss_target = f"< {RSS_LIMIT_MB:g} MB at {BIG_SCALE:,}" if ours.targets == BIG_SCALE else ""
    error_target = (
        f"< {ERROR_P99_LIMIT_MS:g} ms and < blackbox" if ours.targets == ERROR_SCALE else ""
    )
    rows: list[Row] = [
        ("figure", "outagewatch", "blackbox", "ow/bb", "target"),
        row(f"probes/s (offered {ours.offered_rate:,.1f})", lambda f: f.rate, 1),
        row("CPU s per 1,000 probes", lambda f: f.cpu_per_1000),
        row("CPU, cores busy", lambda f: f.cpu_util),
        row("peak RSS, MB", lambda f: f.peak_rss_mb, 1, rss_target),
        row("event-loop lag p50, ms", lambda f: f.lag_p50_ms),
        row("event-loop lag p99, ms", lambda f: f.lag_p99_ms, 2, lag_target),
        row("event-loop lag max, ms", lambda f: f.lag_max_ms),
        row("full GC runs in window", lambda f: f.full_gcs, 0),
        row("longest full GC, ms", lambda f: f.full_gc_max_ms, 1),
        row("timing error p50, ms", lambda f: f.error_p50_ms),
        row("timing error p99, ms", lambda f: f.error_p99_ms, 2, error_target),
        row("timing error max, ms", lambda f: f.error_max_ms),
        row(f"measured duration p50, ms (injected {latency_ms:g})", lambda f: f.duration_p50_ms),
        row("server's accept-to-close p50, ms", lambda f: f.server_p50_ms),
        row("probes in window", lambda f: float(f.probes), 0),
        row("failed probes", lambda f: float(f.failed), 0),
        row("probes not paired with a record", lambda f: float(f.unmatched), 0),
        row("simulators' CPU, cores busy", lambda f: f.sim_cpu_util),
        row("start-up before probing, s", lambda f: f.startup_s, 1),
    ]
    return _table(rows)


def protocol_table(results: Results) -> str:
    rows: list[Row] = [("CPU s per 1,000 probes", "outagewatch", "blackbox", "ow/bb", "target")]
    for protocol, (ours, theirs) in results.per_protocol.items():
        other = theirs.cpu_per_1000 if theirs is not None else math.nan
        target = f"within {HTTP_CPU_RATIO_LIMIT:g}x" if protocol == "http" else ""
        rows.append(
            (
                protocol,
                _num(ours.cpu_per_1000),
                _num(other),
                _ratio(ours.cpu_per_1000, other),
                target,
            )
        )
    return _table(rows)


def detection_lines(results: Results) -> list[str]:
    runs = results.detection
    if not runs:
        return ["detection latency: not run"]
    latencies = [r.latency for r in runs]
    decisions = [r.to_decision for r in runs]
    return [
        f"detection latency over {len(runs)} runs (probe_interval 1 s, outage_after 3 s):",
        f"  rule true -> detected mail accepted by the relay: median {median(latencies):.3f} s, "
        f"min {min(latencies):.3f} s, max {max(latencies):.3f} s",
        f"  rule true -> transition recorded: median {median(decisions):.3f} s, "
        f"max {max(decisions):.3f} s",
    ]


def verdicts(results: Results) -> list[str]:
    """One line per target of issue 9: met, missed, or not measured in this run."""
    lines = []
    by_scale = {ours.targets: (ours, theirs) for ours, theirs in results.scales}
    if ERROR_SCALE in by_scale:
        ours, theirs = by_scale[ERROR_SCALE]
        ok = ours.error_p99_ms < ERROR_P99_LIMIT_MS and (
            theirs is None or ours.error_p99_ms < theirs.error_p99_ms
        )
        other = f", blackbox {theirs.error_p99_ms:.2f} ms" if theirs else ""
        lines.append(
            f"{'MET   ' if ok else 'MISSED'} timing error p99 at {ERROR_SCALE:,} targets: "
            f"{ours.error_p99_ms:.2f} ms (< {ERROR_P99_LIMIT_MS:g} ms and < blackbox{other})"
        )
    if BIG_SCALE in by_scale:
        ours, _ = by_scale[BIG_SCALE]
        # Keeping pace is judged against the smallest scale, whose rate shows what the
        # scheduler itself delivers (its jitter) when nothing else limits it.
        smallest = min(by_scale)
        pace = by_scale[smallest][0].rate / by_scale[smallest][0].offered_rate
        kept_up = ours.rate / ours.offered_rate >= pace - KEPT_PACE_MARGIN
        ok = ours.lag_p99_ms < LAG_P99_LIMIT_MS and ours.peak_rss_mb < RSS_LIMIT_MB and kept_up
        lines.append(
            f"{'MET   ' if ok else 'MISSED'} {BIG_SCALE:,} targets every {ours.interval:g} s "
            f"on one core: lag p99 {ours.lag_p99_ms:.1f} ms (< {LAG_P99_LIMIT_MS:g}), "
            f"peak RSS {ours.peak_rss_mb:.0f} MB (< {RSS_LIMIT_MB:g}), "
            f"{'kept' if kept_up else 'fell behind'} pace"
        )
        lines.append(
            f"       meanwhile: that core {ours.cpu_util:.0%} busy, {ours.rate:,.1f} of "
            f"{ours.offered_rate:,.1f} probes/s ({ours.rate / ours.offered_rate:.0%}; "
            f"{pace:.0%} at {smallest:,}), timing error p99 {ours.error_p99_ms:.1f} ms"
        )
    else:
        lines.append(f"-      {BIG_SCALE:,} targets: not run (python -m bench --full)")
    http = results.per_protocol.get("http")
    if http is not None and http[1] is not None:
        ratio = http[0].cpu_per_1000 / http[1].cpu_per_1000
        lines.append(
            f"{'MET   ' if ratio <= HTTP_CPU_RATIO_LIMIT else 'MISSED'} CPU per 1,000 HTTP probes: "
            f"{http[0].cpu_per_1000:.2f} s vs {http[1].cpu_per_1000:.2f} s, {ratio:.2f}x "
            f"(within {HTTP_CPU_RATIO_LIMIT:g}x)"
        )
    if results.detection:
        worst = max(r.latency for r in results.detection)
        limit = 1.0 + 1.0  # one compressed probe interval plus one second
        lines.append(
            f"{'MET   ' if worst < limit else 'MISSED'} detection to mail: max {worst:.3f} s "
            f"(< one probe interval + 1 s = {limit:g} s)"
        )
    return lines


def isolation_parts(results: Results) -> list[str]:
    """The isolation rows: their summary beside the quiet runs, then each row's own table."""
    plan = results.plan
    parts = [
        f"== isolation: the healthy probes' timing error p99 beside a quiet run in the same "
        f"bench (goal: within {isolation_report.GOAL_MS:g} ms)",
        *isolation_report.summary(_summary_rows(results)),
        "outagewatch run's probes on "
        + isolation_report.probes_label(results.isolation, results.daemon),
        "",
    ]
    if results.hostile is not None or not plan.isolation_only:
        extra = max(1, round(plan.hostile_scale * plan.hostile_share)) if plan.hostile_scale else 0
        parts += [*hostile_report.render(results.hostile, extra), ""]
    parts += [*isolation_report.render_isolation(results.isolation), ""]
    for figures in results.daemon:
        parts += [*isolation_report.scrape_table(figures), ""]
    return parts


def render(results: Results) -> str:
    if results.plan.isolation_only:
        parts = isolation_parts(results)
        parts.extend(daemon_report.render(results.daemon, results.daemon_failures))
        parts += ["", "== targets of issue 27"]
        parts.extend(isolation_report.verdicts(_summary_rows(results)))
        return "\n".join(parts)
    plan = results.plan
    latency_ms = plan.latency * 1000
    parts = []
    for ours, theirs in results.scales:
        parts.append(
            f"== {ours.targets:,} targets (a quarter each http, smtp, imap, pop3), "
            f"every {ours.interval:g} s, {ours.seconds:g} s measured, "
            f"{latency_ms:g} ms injected per connection"
            + (f"; outagewatch's probes on {ours.probes_on}" if ours.probes_on else "")
        )
        parts.append(scale_table(ours, theirs, latency_ms))
        parts.append("")
    if results.per_protocol:
        first = next(iter(results.per_protocol.values()))[0]
        parts.append(
            f"== CPU by protocol: {first.targets:,} targets of one protocol every "
            f"{first.interval:g} s ({first.offered_rate:,.0f} probes/s), "
            f"{first.seconds:g} s measured"
            + (f"; outagewatch's probes on {first.probes_on}" if first.probes_on else "")
        )
        parts.append(protocol_table(results))
        parts.append("")
    parts.extend(isolation_parts(results))
    parts.extend(daemon_report.render(results.daemon, results.daemon_failures))
    parts.append("")
    parts.extend(detection_lines(results))
    parts.append("")
    parts.append("== targets of issue 9")
    parts.extend(verdicts(results))
    parts.append("")
    parts.append("== targets of issue 13 (the deployed daemon)")
    parts.extend(daemon_report.verdicts(results.daemon))
    rows = _summary_rows(results)
    if rows:
        parts += ["", "== targets of issue 27"]
        parts.extend(isolation_report.verdicts(rows))
    return "\n".join(parts)


def _summary_rows(results: Results) -> list[isolation_report.Row]:
    return isolation_report.summary_rows(results.hostile, results.isolation, results.daemon)
