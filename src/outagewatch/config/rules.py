"""Detection and communication timings, with overrides globally, per platform and per service."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from outagewatch.durations import parse_duration


def _duration(value: object) -> object:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a duration like 500ms, 30s, 15m or 1h (a string with its unit)")
    return parse_duration(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]


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

    def problems(self) -> list[tuple[str, str]]:
        """Combinations that are each valid alone but make no sense together."""
        found: list[tuple[str, str]] = []
        for name in ("slow_after", "outage_after", "probe_interval", "probe_timeout", "max_gap"):
            if getattr(self, name) <= timedelta(0):
                found.append((name, "must be longer than 0s"))
        if self.probe_timeout < self.slow_after:
            found.append(("probe_timeout", "must not be shorter than slow_after"))
        if self.outage_after < self.probe_interval:
            found.append(("outage_after", "must not be shorter than probe_interval"))
        if self.max_gap < self.probe_interval:
            found.append(("max_gap", "must not be shorter than probe_interval"))
        return found


@functools.lru_cache(maxsize=4096)
def merge_rules(*levels: RulesOverride | None) -> Rules:
    """Apply overrides from the most general level to the most specific.

    ``max_gap`` defaults to three probe intervals of the *effective* interval, so a service
    probed every 10 s gets a 30 s gap limit without saying so.

    Cached (the levels are frozen, the result too): 10,000 services mostly share a few
    combinations, and merging them one by one took a fifth of the config's start-up.
    """
    values: dict[str, object] = {}
    for level in levels:
        if level is not None:
            values.update(level.model_dump(exclude_none=True))
    if "max_gap" not in values:
        interval = values.get("probe_interval", Rules.probe_interval)
        assert isinstance(interval, timedelta)
        values["max_gap"] = interval * 3
    return Rules(**values)  # type: ignore[arg-type]
