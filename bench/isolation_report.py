"""The report's isolation rows: the healthy probes' timing error beside a quiet run in the same
bench, with 1 % hostile targets, while the status page serves its visitors, and during a
scrape. Each row's quiet counterpart comes from the same run: the engine's quiet twin run
(hostile_report.py), the deployed daemon's quiet windows (isolation_figures.py), and the
probes of the scraped daemon that overlapped no scrape (daemon_figures.py).
The goal: the p99 within GOAL_MS of the quiet one."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from bench.daemon_figures import DaemonFigures
from bench.figures import Figures
from bench.isolation_figures import IsolationFigures, WindowFigures

GOAL_MS = 2.0

# name, quiet, disturbed, digits
Compared = tuple[str, float, float, int]


class Timed(Protocol):
    """The healthy probes' timing error of a run or a window (Figures, WindowFigures)."""

    @property
    def error_p50_ms(self) -> float: ...
    @property
    def error_p99_ms(self) -> float: ...
    @property
    def error_max_ms(self) -> float: ...


def timing_rows(quiet: Timed, loud: Timed) -> list[Compared]:
    return [
        ("timing error p50, ms", quiet.error_p50_ms, loud.error_p50_ms, 2),
        ("timing error p99, ms", quiet.error_p99_ms, loud.error_p99_ms, 2),
        ("timing error max, ms", quiet.error_max_ms, loud.error_max_ms, 2),
    ]


def number(value: float, digits: int = 2) -> str:
    return "—" if math.isnan(value) else f"{value:,.{digits}f}"


def grid(rows: Sequence[Sequence[str]]) -> list[str]:
    """A text table: the first column to the left, the others to the right, a rule under
    the heads."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def comparison(heads: tuple[str, str, str], rows: list[Compared]) -> list[str]:
    """figure | quiet | disturbed | difference: the form of every isolation table."""
    table = [(*heads, "difference")]
    for name, quiet, loud, digits in rows:
        difference = (
            "—" if math.isnan(quiet) or math.isnan(loud) else f"{loud - quiet:+,.{digits}f}"
        )
        table.append((name, number(quiet, digits), number(loud, digits), difference))
    return grid(table)


# One line of the summary: what disturbed the probes, the p99 quiet and disturbed, how many
# probes the disturbed p99 is of.
Row = tuple[str, float, float, int]


def summary_rows(
    hostile: tuple[Figures, Figures] | None,
    isolation: IsolationFigures | None,
    scraped: list[DaemonFigures],
) -> list[Row]:
    rows: list[Row] = []
    if hostile is not None:
        quiet, loud = hostile
        rows.append(
            ("1 % hostile targets, the engine", quiet.error_p99_ms, loud.error_p99_ms, loud.probes)
        )
    if isolation is not None:
        calm = isolation.kind("quiet")
        names = {"status": f"status page at {isolation.rate:g} requests/s, outagewatch run",
                 "hostile": "1 % hostile targets, outagewatch run"}  # fmt: skip
        for kind, name in names.items():
            loud_w = isolation.kind(kind)
            if calm is not None and loud_w is not None:
                rows.append((name, calm.error_p99_ms, loud_w.error_p99_ms, loud_w.healthy))
    for f in scraped:
        rows.append(
            (
                f"during a scrape, outagewatch run, {f.targets:,} scraped every "
                f"{f.scrape_every:g} s",
                f.error_rest_p99_ms,
                f.error_overlapped_p99_ms,
                f.overlapped,
            )
        )
    return rows


def probes_label(isolation: IsolationFigures | None, scraped: list[DaemonFigures]) -> str:
    """Where the deployed daemon's probes ran in this bench (one setting for all its runs)."""
    labels = [isolation.probes_on] if isolation is not None else []
    labels += [f.probes_on for f in scraped if f.probes_on]
    return labels[0] if labels else "(not recorded)"


def summary(rows: list[Row]) -> list[str]:
    table = [("timing error p99 of the healthy probes, ms", "quiet", "disturbed", "difference",
              "probes", f"within {GOAL_MS:g} ms")]  # fmt: skip
    for name, quiet, loud, probes in rows:
        diff = loud - quiet
        verdict = "—" if math.isnan(diff) else ("MET" if diff < GOAL_MS else "MISSED")
        table.append((name, number(quiet), number(loud), number(diff), f"{probes:,}", verdict))
    return grid(table)


def verdicts(rows: list[Row]) -> list[str]:
    lines = []
    for name, quiet, loud, probes in rows:
        ok = loud - quiet < GOAL_MS
        if math.isnan(loud - quiet):
            lines.append(f"-      timing error p99, {name}: not measured ({probes} probes)")
            continue
        lines.append(
            f"{'MET   ' if ok else 'MISSED'} timing error p99, {name}: {loud:.2f} ms over "
            f"{probes:,} probes, quiet {quiet:.2f} ms (within {GOAL_MS:g} ms of the quiet)"
        )
    return lines


def windows_table(isolation: IsolationFigures) -> list[str]:
    """The windows in the order they ran: a quiet window as slow as a loaded one is the host."""
    rows = [("window", "s", "p50 ms", "p99 ms", "max ms", "probes", "failed", "CPU s/1,000",
             "cores busy", "/healthz p99 ms", "status req/s", "page p99 ms")]  # fmt: skip
    for w in isolation.windows:
        rows.append(
            (
                f"{w.kind} {w.round}",
                number(w.seconds, 1),
                number(w.error_p50_ms),
                number(w.error_p99_ms),
                number(w.error_max_ms),
                f"{w.healthy:,}",
                f"{w.failed:,}",
                number(w.cpu_per_1000, 3),
                number(w.cores_busy, 3),
                number(w.healthz_p99_ms, 1),
                number(w.sent_rate, 1) if w.requests else "",
                number(w.page_p99_ms, 1) if w.requests else "",
            )
        )
    return grid(rows)


def kind_table(quiet: WindowFigures, loud: WindowFigures, label: str, rate: float) -> list[str]:
    rows: list[Compared] = [
        *timing_rows(quiet, loud),
        ("/healthz every 0.25 s p99, ms (loop lag)", quiet.healthz_p99_ms, loud.healthz_p99_ms, 1),
        ("daemon CPU s / 1,000 probes (all its probes)", quiet.cpu_per_1000, loud.cpu_per_1000, 3),
        ("daemon CPU, cores busy", quiet.cores_busy, loud.cores_busy, 3),
        ("healthy probes in the windows", quiet.healthy, loud.healthy, 0),
        ("of those failed", quiet.failed, loud.failed, 0),
        ("probes not paired with a record", quiet.unmatched, loud.unmatched, 0),
    ]  # fmt: skip
    if loud.requests:
        nothing = math.nan
        rows += [
            (f"status requests/s sent (offered {rate:g})", nothing, loud.sent_rate, 1),
            ("status answer p50, ms", nothing, loud.page_p50_ms, 1),
            ("status answer p99, ms", nothing, loud.page_p99_ms, 1),
            ("status answer max, ms", nothing, loud.page_max_ms, 1),
            ("status requests not answered 200", nothing, loud.requests - loud.answered, 0),
            ("visitors' lag behind their schedule, max ms", nothing, loud.late_max_ms, 1),
        ]
    lines = comparison((f"figure ({quiet.kind} vs {label} windows, pooled)", "quiet", label), rows)
    if loud.requests:
        lines.append(f"status answers by HTTP status (0: none): {loud.statuses}")
    return lines


def scrape_table(f: DaemonFigures) -> list[str]:
    return [
        f"== during a scrape: outagewatch run, {f.targets:,} services every {f.interval:g} s, "
        f"scraped every {f.scrape_every:g} s, {f.seconds:g} s measured, probes on "
        f"{f.probes_on or '(not recorded)'}",
        *comparison(
            ("figure", "the other probes", "overlapping a scrape"),
            [
                ("timing error p50, ms", f.error_rest_p50_ms, f.error_overlapped_p50_ms, 2),
                ("timing error p99, ms", f.error_rest_p99_ms, f.error_overlapped_p99_ms, 2),
                ("timing error max, ms", f.error_rest_max_ms, f.error_overlapped_max_ms, 2),
                ("probes", f.probes - f.overlapped, f.overlapped, 0),
            ],
        ),
    ]


def render_isolation(isolation: IsolationFigures | None) -> list[str]:
    if isolation is None:
        return ["the deployed daemon in quiet and disturbed windows: not run"]
    lines = [
        f"== outagewatch run, {isolation.targets:,} healthy services (and {isolation.extra} on "
        f"the hostile servers) every {isolation.interval:g} s, probes on {isolation.probes_on}: "
        f"windows of {isolation.window:g} s, quiet, status page at {isolation.rate:g} "
        f"requests/s, hostile servers misbehaving",
        *windows_table(isolation),
    ]
    quiet = isolation.kind("quiet")
    for kind, label in (("status", "status page"), ("hostile", "hostile")):
        loud = isolation.kind(kind)
        if quiet is not None and loud is not None:
            lines += ["", *kind_table(quiet, loud, label, isolation.rate)]
    return lines
