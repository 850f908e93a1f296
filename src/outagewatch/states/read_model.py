"""The one answer to "what state is this service in now", for every face that shows it.

The leader's detector writes its judgement here after each round, only for the services it
judged (``judged``); the API, the console, the status page, the metrics and the command line
read it. Nobody else derives a service's state: ``state_of`` is the only place that joins
the judgement with the facts every instance can read from the store (the latest sample of
each vantage, an open incident, a running maintenance), so an instance that does not lead
answers the same way from those facts alone.

Reads cost what they ask for: one service, or one platform's services (kept by platform),
and a platform's ``version`` changes exactly when one of its services' state does, so a
page of it can be cached until then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

Key = tuple[str, str]  # (platform, service)
VantageWord = Literal["ok", "bad", "outage", "no data"]
# "bad": samples are bad, the outage rule has not (yet) declared an outage.
ServiceWord = Literal["ok", "bad", "degraded", "outage", "maintenance", "no data"]
ORDER: dict[str, int] = {"no data": 0, "ok": 1, "bad": 2, "outage": 3}


@dataclass(frozen=True)
class VantageState:
    state: VantageWord
    since: datetime | None = None  # the first bad sample of the bad run or outage


@dataclass(frozen=True)
class Latest:
    """The newest sample of one vantage, as the store has it."""

    started_at: datetime
    bad: bool


@dataclass(frozen=True)
class Judged:
    """The leader's judgement of one service after a round."""

    vantages: Mapping[str, VantageState]
    outage: bool
    maintenance: bool
    degraded: bool = False  # below an outage: its own rule, or a minority of vantages
    degraded_since: datetime | None = None


@dataclass(frozen=True)
class ServiceState:
    platform: str
    service: str
    state: ServiceWord
    since: datetime | None  # when the bad run or outage began
    vantages: Mapping[str, VantageState]

    @property
    def key(self) -> Key:
        return self.platform, self.service


def state_of(
    key: Key,
    judged: Judged | None,
    latest: Mapping[str, Latest],
    *,
    reported_down: bool,
    in_maintenance: bool,
    now: datetime,
    recent: timedelta,
) -> ServiceState:
    """Join the judgement (if this instance has one) with the stored facts.

    Without a judgement a vantage whose newest sample is bad and ``recent`` (max_gap plus
    the lateness of a result) counts as bad; an incident that names the service (opened by
    the detector or reported by a customer) makes it an outage on every instance.
    """
    vantages: dict[str, VantageState] = dict(judged.vantages) if judged else {}
    for vantage, sample in latest.items():
        if vantage in vantages and vantages[vantage].state != "no data":
            continue
        bad = sample.bad and now - sample.started_at <= recent
        vantages[vantage] = VantageState("bad", sample.started_at) if bad else VantageState("ok")
    worst = max(vantages.values(), key=lambda v: ORDER[v.state], default=VantageState("no data"))
    state: ServiceWord = worst.state
    since = worst.since
    if reported_down or (judged is not None and judged.outage):
        state = "outage"
        since = min((v.since for v in vantages.values() if v.since), default=since)
    elif in_maintenance or (judged is not None and judged.maintenance):
        state, since = "maintenance", None
    elif judged is not None and judged.degraded:
        state = "degraded"
        starts = [v.since for v in vantages.values() if v.since]
        since = judged.degraded_since or min(starts, default=None)
    elif state == "bad":
        since = min(v.since for v in vantages.values() if v.state == "bad" and v.since)
    return ServiceState(key[0], key[1], state, since, vantages)


@dataclass
class ServiceStates:
    """The leader's judgements, kept by platform, with a version per platform."""

    _judged: dict[Key, Judged] = field(default_factory=dict)
    _platforms: dict[str, list[str]] = field(default_factory=dict)
    _versions: dict[str, int] = field(default_factory=dict)

    def monitor(self, keys: Iterable[Key]) -> None:
        """The services of the config (at start and after a reload): judgements of services
        no longer configured are dropped, every platform's pages are stale."""
        platforms: dict[str, list[str]] = {}
        for pid, sid in keys:
            platforms.setdefault(pid, []).append(sid)
        self._platforms = platforms
        self._judged = {k: j for k, j in self._judged.items() if k[1] in platforms.get(k[0], ())}
        for pid in platforms:
            self._bump(pid)

    def judged(self, key: Key, judgement: Judged) -> None:
        if self._judged.get(key) != judgement:
            self._judged[key] = judgement
            self._bump(key[0])

    def forget(self) -> None:
        """This instance no longer leads: its judgements are no longer current."""
        for pid in {k[0] for k in self._judged}:
            self._bump(pid)
        self._judged.clear()

    def judgement(self, key: Key) -> Judged | None:
        return self._judged.get(key)

    def services(self, platform: str) -> list[str]:
        return self._platforms.get(platform, [])

    def version(self, platform: str) -> int:
        return self._versions.get(platform, 0)

    def _bump(self, platform: str) -> None:
        self._versions[platform] = self._versions.get(platform, 0) + 1
