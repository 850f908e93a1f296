"""The rows of healthy probes beside hostile targets: the same healthy targets probed twice,
beside 1 % of targets on healthy servers (quiet) and beside as many on hostile ones (each
protocol's endless line, endless lines and drip, bench/sim_runner.py), by the engine. The
deployed daemon's rows beside the same servers are isolation_report.py's."""

from __future__ import annotations

from bench.figures import Figures
from bench.isolation_report import comparison, timing_rows


def render(pair: tuple[Figures, Figures] | None, hostile_count: int) -> list[str]:
    if pair is None:
        return ["healthy probes beside hostile targets: not run"]
    quiet, loud = pair
    rows = [
        *timing_rows(quiet, loud),
        ("event-loop lag p99, ms", quiet.lag_p99_ms, loud.lag_p99_ms, 2),
        ("CPU s / 1,000 probes", quiet.cpu_per_1000, loud.cpu_per_1000, 3),
        ("probes in the window", quiet.probes, loud.probes, 0),
        ("of those failed", quiet.failed, loud.failed, 0),
    ]
    return [
        f"== {quiet.targets:,} healthy targets every {quiet.interval:g} s, {quiet.seconds:g} s "
        f"measured, beside {hostile_count} more: healthy (quiet) or hostile (the engine)",
        *comparison(("figure (healthy targets only)", "quiet", "hostile"), rows),
    ]
