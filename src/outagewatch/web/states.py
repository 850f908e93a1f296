"""What state each service is in now, in the words of the status page and the console.

``degraded`` is honest about the early warning: samples are bad, but the 15-minute rule has
not declared an outage (yet). The detector's live judgement is used where this instance has
one; the stored facts (the latest sample per vantage, the open incident, the running
maintenance) make the answer the same on an instance that does not lead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from outagewatch.config import Config
from outagewatch.detection.detector import Detector
from outagewatch.detection.judgement import run_rules
from outagewatch.incidents.decisions import Incident
from outagewatch.maintenance.decisions import Maintenance

StateName = Literal["operational", "degraded", "outage", "maintenance", "no data"]
LatestSamples = Mapping[tuple[str, str, str], Mapping[str, Any]]


@dataclass(frozen=True)
class ServiceState:
    platform: str
    service: str
    label: str
    state: StateName
    bad_since: datetime | None  # the first bad sample of the current run, if bad


def service_states(
    config: Config,
    detector: Detector | None,
    latest: LatestSamples,
    active: Sequence[Incident],
    windows: Sequence[Maintenance],
    now: datetime,
) -> list[ServiceState]:
    down = {(i.platform, s) for i in active for s in i.down}
    found = []
    for pid, platform in config.platforms.items():
        running = {
            s for w in windows if w.platform == pid and w.starts_at <= now < w.ends_at
            and w.state in ("scheduled", "in_progress") for s in w.services
        }  # fmt: skip
        for sid, service in platform.services.items():
            bad_since, measured = _bad_since(config, detector, latest, pid, sid, now)
            track = detector.tracks.get((pid, sid)) if detector is not None else None
            state: StateName
            if (pid, sid) in down or (track is not None and track.in_outage is not None):
                state = "outage"
            elif sid in running:
                state = "maintenance"
            elif bad_since is not None:
                state = "degraded"
            else:
                state = "operational" if measured else "no data"
            found.append(ServiceState(pid, sid, service.display, state, bad_since))
    return found


def _bad_since(
    config: Config,
    detector: Detector | None,
    latest: LatestSamples,
    pid: str,
    sid: str,
    now: datetime,
) -> tuple[datetime | None, bool]:
    """The earliest start of a bad run any vantage sees now, and whether anything was measured."""
    rules = config.rules_for(pid, sid)
    run = run_rules(rules)
    starts = []
    live = detector.live.get((pid, sid), {}) if detector is not None else {}
    for state in live.values():
        if state.bad_for(now, run) > timedelta(0):
            start = state.outage.started_at if state.outage else state.bad_since
            if start is not None:
                starts.append(start)
    mine = [s for (p, s_, _), s in latest.items() if (p, s_) == (pid, sid)]
    if not starts:
        # Without a live judgement (not the leader): a last sample that was bad and recent.
        recent = rules.max_gap + rules.lateness
        starts = [s["started_at"] for s in mine if s["bad"] and now - s["started_at"] <= recent]
    return (min(starts) if starts else None), bool(mine or live)
