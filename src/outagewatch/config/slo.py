"""Service level objectives: ``slo: {availability: 99.9, latency: {under: 5s, objective: 99}}``
at the top level, per platform and per service, merged key by key like ``rules:``.

Availability is the share of samples that are not bad (succeeded within ``slow_after``);
latency the share of samples that finished within ``latency.under``. Both are counted the way
Prometheus counts them from /metrics: ``outagewatch_probes_total{result}`` and the
``le`` buckets of ``outagewatch_probe_duration_seconds``. A histogram can only say how many
samples finished within one of its bucket boundaries, so ``under`` must be one of them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from outagewatch.config.rules import Duration
from outagewatch.durations import format_duration

# A percentage strictly between 0 and 100: 100 leaves no error budget to divide by, 0 no
# objective at all.
Percent = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]


# The bucket boundaries of /metrics' outagewatch_probe_duration_seconds, in seconds: the
# same as exposition.DURATION_BUCKETS (a test holds them equal; exposition imports the probes,
# which import the config, so the config cannot import it).
LATENCY_BOUNDARIES = (0.25, 1.0, 5.0, 10.0, 30.0, 60.0)


def _boundary(value: timedelta) -> timedelta:
    allowed = LATENCY_BOUNDARIES
    if value.total_seconds() not in allowed:
        names = ", ".join(format_duration(timedelta(seconds=b)) for b in allowed)
        raise ValueError(
            f"must be one of the duration histogram's bucket boundaries ({names}), not"
            f" {format_duration(value)}: Prometheus can only count the samples under one"
        )
    return value


class LatencyOverride(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    under: Annotated[Duration, AfterValidator(_boundary)] | None = None
    objective: Percent | None = None


class SloOverride(BaseModel):
    """The ``slo:`` block; every key optional so that each level overrides only what it names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    availability: Percent | None = None
    latency: LatencyOverride | None = None


@dataclass(frozen=True)
class Slo:
    """The effective objectives of one service, in percent of its samples."""

    availability: float = 99.9
    latency_under: timedelta = timedelta(seconds=5)
    latency_objective: float = 99.0

    @property
    def availability_budget(self) -> float:
        """The fraction of samples that may be bad."""
        return 1 - self.availability / 100

    @property
    def latency_budget(self) -> float:
        """The fraction of samples that may take longer than ``latency_under``."""
        return 1 - self.latency_objective / 100

    @property
    def le(self) -> str:
        """``latency_under`` as the ``le`` label of its bucket."""
        return repr(self.latency_under.total_seconds())


@functools.lru_cache(maxsize=4096)
def merge_slo(*levels: SloOverride | None) -> Slo:
    """Apply overrides from the most general level to the most specific, key by key (a
    service's ``latency: {under: 1s}`` keeps the objective its platform set)."""
    values: dict[str, object] = {}
    for level in levels:
        if level is None:
            continue
        if level.availability is not None:
            values["availability"] = level.availability
        if level.latency is not None and level.latency.under is not None:
            values["latency_under"] = level.latency.under
        if level.latency is not None and level.latency.objective is not None:
            values["latency_objective"] = level.latency.objective
    return Slo(**values)  # type: ignore[arg-type]
