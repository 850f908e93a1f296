"""Detection and communication timings, with overrides globally, per platform and per service."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from outagewatch.durations import format_duration, parse_duration


def _duration(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a duration like 500ms, 30s, 15m or 1h (a string with its unit)")
    return parse_duration(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def _duration_or_off(value: object) -> object:
    return timedelta(0) if value == "off" else _duration(value)


# ``off`` is kept as 0s: the latency tier of "degraded" is off.
DurationOrOff = Annotated[timedelta, BeforeValidator(_duration_or_off)]


LATENESS_MARGIN_CAP = timedelta(seconds=15)


class RulesOverride(BaseModel):
    """The ``rules:`` block; every key optional so that each level overrides only what it names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slow_after: Duration | None = None
    outage_after: Duration | None = None
    probe_interval: Duration | None = None
    probe_timeout: Duration | None = None
    restore_after: Annotated[int, Field(ge=1, le=100)] | None = None
    max_gap: Duration | None = None
    update_every: Duration | None = None
    oncall_repeat: Duration | None = None
    max_overlap: Annotated[int, Field(ge=1, le=100)] | None = None
    degraded_after: DurationOrOff | None = None
    degraded_for: Duration | None = None


@dataclass(frozen=True)
class Rules:
    """The effective rules of one service (DESIGN section 3 defaults)."""

    slow_after: timedelta = timedelta(seconds=30)
    outage_after: timedelta = timedelta(minutes=15)
    probe_interval: timedelta = timedelta(seconds=30)
    probe_timeout: timedelta = timedelta(seconds=60)
    restore_after: int = 2
    max_gap: timedelta = timedelta(seconds=90)
    update_every: timedelta = timedelta(hours=1)
    oncall_repeat: timedelta = timedelta(minutes=10)
    # How many probes of one service may run at once while a server hangs (DESIGN section 3:
    # sampling keeps its pace, "overlapping probes are allowed, bounded").
    max_overlap: int = 3
    # Below an outage: samples slower than this (or failing) for ``degraded_for`` make the
    # service degraded. 0 (``off`` in the config) turns the latency tier off.
    degraded_after: timedelta = timedelta(seconds=5)
    degraded_for: timedelta = timedelta(minutes=5)

    @property
    def hang_gap(self) -> timedelta:
        """The longest time between the starts of two probes while the server hangs.

        A hanging server holds every probe for ``probe_timeout``; once ``max_overlap`` of them
        wait, the schedule skips runs until the oldest gives up. A probe started ``m``
        intervals ago still runs at a tick while ``m * probe_interval <= probe_timeout`` (it
        ends just after its deadline), so after ``max_overlap`` starts the next one comes
        ``probe_timeout // probe_interval + 1`` ticks after the first of them.
        """
        running = self.probe_timeout // self.probe_interval  # earlier runs still waiting
        return self.probe_interval * max(1, running + 2 - self.max_overlap)

    @property
    def lateness(self) -> timedelta:
        """How long after its start a sample may still arrive: a probe ends by its timeout,
        and its result reaches the judgement within two detection rounds after (a round
        comes at most a quarter interval, and at most 5 s, after the one before:
        daemon/pacing.py), one to write it and, on another vantage's leader, one to read it."""
        return self.probe_timeout + min(self.probe_interval, LATENESS_MARGIN_CAP)

    def problems(self) -> list[tuple[str, str]]:
        """Combinations that are each valid alone but cannot honour the outage rule together."""
        found: list[tuple[str, str]] = []
        names = ("slow_after", "outage_after", "probe_interval", "probe_timeout", "max_gap")
        for name in (*names, "degraded_for"):
            if getattr(self, name) <= timedelta(0):
                found.append((name, "must be longer than 0s"))
        if found:
            return found
        if self.probe_timeout < self.slow_after:
            found.append(("probe_timeout", "must not be shorter than slow_after"))
        if self.outage_after < self.probe_interval:
            found.append(("outage_after", "must not be shorter than probe_interval"))
        if self.degraded_for < self.probe_interval:
            found.append(("degraded_for", "must not be shorter than probe_interval"))
        if self.degraded_after < timedelta(0):
            found.append(("degraded_after", "must be a duration or off"))
        schedule = (
            f"with probe_interval {format_duration(self.probe_interval)}, probe_timeout"
            f" {format_duration(self.probe_timeout)} and max_overlap {self.max_overlap}, the"
            f" probes of a hanging server start up to {format_duration(self.hang_gap)} apart"
        )
        if self.max_gap <= self.hang_gap:
            found.append((
                "max_gap",
                f"must be longer than {format_duration(self.hang_gap)}: {schedule}, and a"
                " shorter max_gap would break every bad run of a hanging server (leave max_gap"
                " out to have it derived)",
            ))  # fmt: skip
        return found


def default_max_gap(rules: Rules) -> timedelta:
    """Three probe intervals, or one interval more than a hanging server's probes can be
    apart (``Rules.hang_gap``): a probe still running is not a hole in the data, and only a
    probe that should have started and did not (or whose result was lost) is."""
    return max(3 * rules.probe_interval, rules.hang_gap + rules.probe_interval)


@functools.lru_cache(maxsize=4096)
def merge_rules(*levels: RulesOverride | None) -> Rules:
    """Apply overrides from the most general level to the most specific.

    ``max_gap`` defaults from the *effective* schedule and timeout (``default_max_gap``), so a
    service probed every 10 s gets a 30 s gap limit without saying so, and one whose hanging
    probes are skipped past ``max_overlap`` a limit longer than the skips.

    Cached (the levels are frozen, the result too): 10,000 services mostly share a few
    combinations, and merging them one by one took a fifth of the config's start-up.
    """
    values: dict[str, object] = {}
    for level in levels:
        if level is not None:
            values.update(level.model_dump(exclude_none=True))
    rules = Rules(**values)  # type: ignore[arg-type]
    if "max_gap" not in values:
        rules = dataclasses.replace(rules, max_gap=default_max_gap(rules))
    return rules
