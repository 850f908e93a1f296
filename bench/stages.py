"""The stages of a benchmark run: which targets each measurement probes, how often, how long."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.layout import PROTOCOLS, TargetSpec, make_targets
from bench.sim_client import SimProcess

if TYPE_CHECKING:
    from bench.harness import Plan


@dataclass(frozen=True)
class Stage:
    """One measurement of both tools: these targets, probed every ``interval``."""

    name: str  # the folder of its logs
    label: str  # what the progress lines say
    targets: list[TargetSpec]
    interval: float
    duration: float


def scale_stages(plan: Plan, sim: SimProcess) -> list[Stage]:
    assert sim.ports is not None
    return [
        Stage(
            name=f"mixed-{count}",
            label=f"{count:,} targets, every {plan.interval:g} s",
            targets=make_targets(count, sim.ports),
            interval=plan.interval,
            duration=plan.duration,
        )
        for count in plan.scales
    ]


def protocol_stages(plan: Plan, sim: SimProcess) -> list[tuple[str, Stage]]:
    assert sim.ports is not None
    count = plan.per_protocol_targets
    if not count:
        return []
    return [
        (
            protocol,
            Stage(
                name=f"{protocol}-{count}",
                label=f"{protocol} only, {count:,} targets every {plan.per_protocol_interval:g} s",
                targets=make_targets(count, sim.ports, (protocol,)),
                interval=plan.per_protocol_interval,
                duration=plan.per_protocol_duration,
            ),
        )
        for protocol in PROTOCOLS
    ]


def daemon_stages(plan: Plan, sim: SimProcess) -> list[tuple[Stage, float]]:
    assert sim.ports is not None
    runs = [(count, plan.scrape_every) for count in plan.daemon_scales]
    if plan.daemon_scales and plan.fast_scrape_every is not None:
        runs.insert(1, (plan.daemon_scales[0], plan.fast_scrape_every))
    return [
        (
            Stage(
                name=f"daemon-{count}-scrape-{every:g}s",
                label=f"{count:,} services every {plan.interval:g} s, scraped every {every:g} s",
                targets=make_targets(count, sim.ports),
                interval=plan.interval,
                duration=plan.daemon_duration,
            ),
            every,
        )
        for count, every in runs
    ]
