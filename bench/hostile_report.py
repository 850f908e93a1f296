"""The rows of healthy probes beside hostile targets: the same healthy targets probed twice,
beside 1 % of targets on healthy servers (quiet) and beside as many on hostile ones (each
protocol's endless line, endless lines and drip, bench/sim_runner.py)."""

from __future__ import annotations

from bench.figures import Figures

GOAL_MS = 2.0  # the healthy probes' timing error p99 within this of the quiet run's


def render(pair: tuple[Figures, Figures] | None, hostile_count: int) -> list[str]:
    if pair is None:
        return ["healthy probes beside hostile targets: not run"]
    quiet, loud = pair
    rows = [
        ("figure (healthy targets only)", "quiet", "hostile", "difference"),
        _row("timing error p50, ms", quiet.error_p50_ms, loud.error_p50_ms),
        _row("timing error p99, ms", quiet.error_p99_ms, loud.error_p99_ms),
        _row("timing error max, ms", quiet.error_max_ms, loud.error_max_ms),
        _row("event-loop lag p99, ms", quiet.lag_p99_ms, loud.lag_p99_ms),
        _row("CPU s / 1,000 probes", quiet.cpu_per_1000, loud.cpu_per_1000, 3),
        _row("probes in the window", quiet.probes, loud.probes, 0),
        _row("of those failed", quiet.failed, loud.failed, 0),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        f"== {quiet.targets:,} healthy targets every {quiet.interval:g} s, {quiet.seconds:g} s "
        f"measured, beside {hostile_count} more: healthy (quiet) or hostile"
    ]
    for n, row in enumerate(rows):
        lines.append(
            "  ".join([row[0].ljust(widths[0]), *(row[i].rjust(widths[i]) for i in (1, 2, 3))])
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def verdict(pair: tuple[Figures, Figures] | None) -> list[str]:
    if pair is None:
        return []
    quiet, loud = pair
    ok = loud.error_p99_ms - quiet.error_p99_ms < GOAL_MS
    return [
        f"{'MET   ' if ok else 'MISSED'} timing error p99 beside 1 % hostile targets: "
        f"{loud.error_p99_ms:.2f} ms, quiet {quiet.error_p99_ms:.2f} ms "
        f"(within {GOAL_MS:g} ms of the quiet run)"
    ]


def _row(name: str, quiet: float, loud: float, digits: int = 2) -> tuple[str, str, str, str]:
    return name, f"{quiet:,.{digits}f}", f"{loud:,.{digits}f}", f"{loud - quiet:+,.{digits}f}"
