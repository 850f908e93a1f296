"""Every monitored service as the detector judges it and the scheduler probes it: one
``Target`` per platform and service, with the rules, quorum and whether this vantage probes it.
It lives beside the config it is derived from, below both detection/ and daemon/."""

from __future__ import annotations

from dataclasses import dataclass

from outagewatch.config.model import Config
from outagewatch.config.rules import Rules
from outagewatch.config.services import Service


@dataclass(frozen=True)
class Target:
    platform: str
    service_id: str
    service: Service
    rules: Rules
    quorum: int = 1
    probed_here: bool = True  # this instance's vantage is one of the service's

    @property
    def key(self) -> tuple[str, str]:
        return self.platform, self.service_id


def targets_of(config: Config) -> list[Target]:
    """Every monitored service: the leader judges them all, each instance probes its own."""
    return [
        Target(
            pid,
            sid,
            service,
            config.rules_for(pid, sid),
            quorum=config.quorum_for(pid, sid),
            probed_here=config.vantage in config.vantages_for(pid, sid),
        )
        for pid, platform in config.platforms.items()
        for sid, service in platform.services.items()
    ]
