"""The per-service series of /metrics, kept as rendered text by what changes them.

A probe result or a judgement re-renders the few lines of its own service; a scrape only
joins those strings (off the event loop) and compresses them. prometheus_client's
`generate_latest` walked every series object on the loop instead: 6.5 s at 10,000 services,
during which every probe in flight measured the stall (issue 13; DESIGN section 10: a scrape
never holds the loop for more than 20 ms).

The series budget of DESIGN section 10, per service and vantage, for a healthy service:
9 of the duration histogram (6 buckets, +Inf, _sum, _count), `probe_success`, one
`probes_total{result}` per result seen, `service_bad_since_seconds`: 12. The two judgement
flags `service_outage` and `service_in_maintenance` exist only while they are 1, as
Prometheus's own `ALERTS` series does; per-phase series only with `metrics: {phases: true}`.
No `_created` series: nothing of ours reads them, and they would double the counters.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import TypeVar

from outagewatch.probes.result import ProbeResult

# Around the rule: a fast answer, a slow one, and the 30 s outage line below the 60 s timeout.
DURATION_BUCKETS = (0.25, 1.0, 5.0, 10.0, 30.0, 60.0)
SERIES_BUDGET = 15  # per service and vantage, without the opt-in phases

Labels = tuple[str, str, str, str]  # platform, service, protocol, vantage
K = TypeVar("K")  # the labels a family is kept by

DURATION = "outagewatch_probe_duration_seconds"
SUCCESS = "outagewatch_probe_success"
PROBES = "outagewatch_probes_total"
BAD_SINCE = "outagewatch_service_bad_since_seconds"
OUTAGE = "outagewatch_service_outage"
IN_MAINTENANCE = "outagewatch_service_in_maintenance"
DEGRADED = "outagewatch_service_degraded"
PHASE = "outagewatch_probe_phase_seconds"

FAMILIES: dict[str, tuple[str, str]] = {
    DURATION: ("histogram", "Duration of whole probe transactions"),
    SUCCESS: ("gauge", "1 when the last probe was good (succeeded within slow_after), else 0"),
    PROBES: ("counter", "Probes by result: ok, slow, or the error kind"),
    BAD_SINCE: (
        "gauge",
        "How long the current bad run has lasted (0 when good): the early warning",
    ),
    OUTAGE: ("gauge", "1 while the service is in outage, else 0"),
    IN_MAINTENANCE: ("gauge", "1 while a maintenance window of the service is in progress, else 0"),
    DEGRADED: ("gauge", "1 while the service is degraded (below an outage), else 0"),
    PHASE: ("gauge", "Duration of each phase of the last probe (metrics: {phases: true})"),
}
JUDGEMENTS = (BAD_SINCE, OUTAGE, IN_MAINTENANCE, DEGRADED)
_LE = (*(repr(b) for b in DURATION_BUCKETS), "+Inf")


def escape(value: str) -> str:
    """A label value as the text format wants it."""
    return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def number(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if value == float("-inf"):
        return "-Inf"
    return repr(float(value))


@dataclass(frozen=True, slots=True)
class _Names:
    """A service's labels as text, in prometheus_client's order (sorted by label name), in
    two halves so that ``le``, ``phase`` and ``result`` fall into their sorted places."""

    head: str  # platform="…",protocol="…"
    tail: str  # service="…",vantage="…"

    @classmethod
    def of(cls, labels: Labels) -> _Names:
        platform, service, protocol, vantage = (escape(v) for v in labels)
        return cls(
            f'platform="{platform}",protocol="{protocol}"',
            f'service="{service}",vantage="{vantage}"',
        )

    def line(self, name: str, value: str) -> str:
        return f"{name}{{{self.head},{self.tail}}} {value}\n"


@dataclass(slots=True)
class _Probed:
    """What the exposition remembers of one service's probes from one vantage."""

    names: _Names
    buckets: list[int] = field(default_factory=lambda: [0] * len(_LE))  # not cumulative
    total: float = 0.0
    results: dict[str, int] = field(default_factory=dict)

    def histogram(self) -> str:
        head, tail = self.names.head, self.names.tail
        lines = []
        seen = 0
        for le, count in zip(_LE, self.buckets, strict=True):
            seen += count
            lines.append(f'{DURATION}_bucket{{le="{le}",{head},{tail}}} {seen}\n')
        lines.append(self.names.line(f"{DURATION}_count", str(seen)))
        lines.append(self.names.line(f"{DURATION}_sum", number(self.total)))
        return "".join(lines)

    def counters(self) -> str:
        head, tail = self.names.head, self.names.tail
        return "".join(
            f'{PROBES}{{{head},result="{r}",{tail}}} {n}\n' for r, n in self.results.items()
        )


class ServiceSeries:
    """The per-service families, each a dict of rendered lines by service labels."""

    def __init__(self, *, phases: bool = False) -> None:
        self.phases = phases
        self._probed: dict[Labels, _Probed] = {}
        self._lines: dict[str, dict[Labels, str]] = {
            name: {} for name in FAMILIES if phases or name != PHASE
        }

    def observe(self, labels: Labels, result: ProbeResult, slow_after: float) -> None:
        probed = self._probed.get(labels)
        if probed is None:
            probed = self._probed[labels] = _Probed(_Names.of(labels))
        probed.buckets[bisect.bisect_left(DURATION_BUCKETS, result.duration)] += 1
        probed.total += result.duration
        bad = result.is_bad(slow_after)
        verdict = "slow" if result.ok and bad else str(result.error_kind or "ok")
        probed.results[verdict] = probed.results.get(verdict, 0) + 1
        self._lines[DURATION][labels] = probed.histogram()
        self._lines[SUCCESS][labels] = probed.names.line(SUCCESS, "0" if bad else "1")
        self._lines[PROBES][labels] = probed.counters()
        if self.phases:
            head, tail = probed.names.head, probed.names.tail
            self._lines[PHASE][labels] = "".join(
                f'{PHASE}{{phase="{escape(p)}",{head},{tail}}} {number(s)}\n'
                for p, s in result.phases.items()
            )

    def judge(
        self, labels: Labels, bad_for: float, outage: bool, in_maintenance: bool, degraded: bool
    ) -> None:
        probed = self._probed.get(labels)
        names = probed.names if probed is not None else _Names.of(labels)
        self._lines[BAD_SINCE][labels] = names.line(BAD_SINCE, number(bad_for))
        # At 0 too: `outagewatch_service_outage == 0` selects the healthy services, and an
        # absent series would not tell "healthy" from "not monitored".
        for name, flag in (
            (OUTAGE, outage),
            (IN_MAINTENANCE, in_maintenance),
            (DEGRADED, degraded),
        ):
            self._lines[name][labels] = names.line(name, "1" if flag else "0")

    def forget_judgements(self) -> None:
        for name in JUDGEMENTS:
            self._lines[name].clear()

    def forget(self, labels: Labels) -> None:
        """A service the config no longer has (a reload): every series of it ends."""
        self._probed.pop(labels, None)
        for lines in self._lines.values():
            lines.pop(labels, None)

    def parts(self) -> list[str]:
        """The whole text as a list of immutable strings: cheap to take on the loop (one
        reference per service and family), joined later in a thread."""
        return family_parts(FAMILIES, self._lines)


def family_parts(families: dict[str, tuple[str, str]], lines: dict[str, dict[K, str]]) -> list[str]:
    """Each family's HELP and TYPE, then its services' rendered lines as they are."""
    out: list[str] = []
    for name, rendered in lines.items():
        kind, help_text = families[name]
        out.append(f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n")
        out.extend(rendered.values())
    return out
