"""The read model's states in the words of the status page and the console.

``degraded`` is honest about the early warning: samples are bad, but the 15-minute rule has
not declared an outage (yet). The state itself is the read model's (``states/``); this only
gathers, for the services a page shows, the stored facts it joins with the judgement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from outagewatch.config import Config
from outagewatch.incidents.decisions import Incident
from outagewatch.maintenance.decisions import Maintenance
from outagewatch.states import ServiceStates, ServiceWord
from outagewatch.states.facts import LatestSamples, states_from

StateName = Literal["operational", "degraded", "outage", "maintenance", "no data"]
WORDS: dict[ServiceWord, StateName] = {
    "ok": "operational",
    "bad": "degraded",  # the early warning: bad samples, no outage (yet)
    "degraded": "degraded",
    "outage": "outage",
    "maintenance": "maintenance",
    "no data": "no data",
}


@dataclass(frozen=True)
class ServiceState:
    platform: str
    service: str
    label: str
    state: StateName
    bad_since: datetime | None  # the first bad sample of the current run, if bad


def service_states(
    config: Config,
    states: ServiceStates | None,
    latest: LatestSamples,
    active: Sequence[Incident],
    windows: Sequence[Maintenance],
    now: datetime,
    platforms: Sequence[str] | None = None,
) -> list[ServiceState]:
    """The state of every service of ``platforms`` (default: all), from the facts given."""
    keys = [
        (pid, sid)
        for pid in (platforms if platforms is not None else list(config.platforms))
        for sid in config.platforms[pid].services
    ]
    found = []
    for state in states_from(config, states, latest, active, windows, keys, now):
        label = config.platforms[state.platform].services[state.service].display
        since = state.since if state.state in ("bad", "outage") else None
        found.append(ServiceState(state.platform, state.service, label, WORDS[state.state], since))
    return found
