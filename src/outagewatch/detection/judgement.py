"""The leader's judgement of every service, in memory: what it has seen, what it decided.

The detector (beside this file) moves samples between the probes, the store and this; here
nothing reads a clock or does I/O, so the pipeline from the scheduler to the rule can be
driven by a simulated clock (tests/detection/test_pipeline_properties.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import takewhile

from outagewatch.config.rules import Rules
from outagewatch.config.services import HEALTH_PROTOCOLS
from outagewatch.config.targets import Target
from outagewatch.detection.rule import (
    Event,
    Mark,
    Observation,
    RuleState,
    RunRules,
    Verdict,
    Window,
)
from outagewatch.detection.tracking import ServiceTrack
from outagewatch.probes.concerns import concerns_of
from outagewatch.states import Judged, VantageState

Key = tuple[str, str]  # (platform, service)


def run_rules(rules: Rules) -> RunRules:
    """The part of a service's rules that the outage rule reads."""
    return RunRules(rules.outage_after, rules.max_gap, rules.restore_after, rules.lateness)


def degraded_rules(rules: Rules) -> RunRules:
    """The same rule one tier below: ``degraded_for`` of samples that are degraded."""
    return RunRules(rules.degraded_for, rules.max_gap, rules.restore_after, rules.lateness)


def outage_bad(target: Target, bad: bool) -> bool:
    """Whether a bad sample (failed, or slower than slow_after) counts towards an outage."""
    return bad and target.service.protocol not in HEALTH_PROTOCOLS


def degraded_bad(target: Target, bad: bool, duration: float, failed: bool, detail: str) -> bool:
    """Whether a sample counts towards "degraded": failing, bad, slower than
    ``degraded_after`` (unless that is off), or with a concern (a probe mail in Junk or
    unauthenticated)."""
    if bad or failed:
        return True
    after = target.rules.degraded_after
    if after > timedelta(0) and duration > after.total_seconds():
        return True
    return bool(concerns_of(detail))


@dataclass
class Judgement:
    targets: list[Target]
    # Which rule this judgement applies: the outage rule, or the degraded tier below it.
    rules_of: Callable[[Rules], RunRules] = run_rules
    tracks: dict[Key, ServiceTrack] = field(default_factory=dict)
    # Judged every round even without new samples: time alone can change their verdict.
    watching: set[Key] = field(default_factory=set)
    # When each service's oldest unsettled sample settles (its start plus the lateness):
    # judged then, as the rule may see it. Every service has samples waiting to settle, and
    # judging all of them every round for that cost most of the daemon's CPU.
    settles_at: dict[Key, datetime] = field(default_factory=dict)
    _settling: list[tuple[datetime, Key]] = field(default_factory=list)  # a heap of those
    # Maintenance windows per service, refreshed by the daemon before each round.
    windows: dict[Key, list[Window]] = field(default_factory=dict)
    # Until when each vantage counts as reporting: its newest sample of any service plus that
    # service's max_gap and lateness (as ServiceTrack.active), kept as samples arrive: asking
    # all 10,000 tracks every round held the loop for 20 ms.
    vantage_until: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_key = {t.key: t for t in self.targets}
        self.reset()

    def reset(self) -> None:
        """Forget every judgement (this instance is no longer the leader)."""
        self.tracks = {target.key: self.new_track(target) for target in self.targets}
        self.watching, self.vantage_until = set(), {}
        self.settles_at, self._settling = {}, []

    def retarget(self, targets: list[Target]) -> list[Target]:
        """New rules for kept services (their judgement stays), fresh tracks for new ones, and
        removed ones forgotten. Returns the new targets, to be seeded from the store."""
        self.targets = targets
        self.by_key = {t.key: t for t in targets}
        for key in set(self.tracks) - set(self.by_key):
            del self.tracks[key]
            self.watching.discard(key)
            self.settles_at.pop(key, None)
        added = []
        for target in targets:
            track = self.tracks.get(target.key)
            if track is None:
                added.append(target)
                self.tracks[target.key] = self.new_track(target)
            else:
                track.rules = self.rules_of(target.rules)
                track.quorum = target.quorum
        return added

    def new_track(self, target: Target) -> ServiceTrack:
        return ServiceTrack(rules=self.rules_of(target.rules), quorum=target.quorum)

    def observe(self, key: Key, vantage: str, obs: Observation) -> bool:
        """One sample of a vantage; False for a service no longer configured."""
        track = self.tracks.get(key)
        if track is None:
            return False
        track.add(vantage, obs)
        self.reported(vantage, obs.at, track)
        return True

    def reported(self, vantage: str, at: datetime, track: ServiceTrack) -> None:
        until = at + track.rules.max_gap + track.rules.lateness
        known = self.vantage_until.get(vantage)
        if known is None or until > known:
            self.vantage_until[vantage] = until

    def vantages_up(self, now: datetime) -> set[str]:
        """The vantages whose data may still be whole (the leader's view)."""
        return {vantage for vantage, until in self.vantage_until.items() if until >= now}

    def to_judge(self, touched: set[Key], now: datetime) -> list[Key]:
        """The services to judge at ``now``: with new samples, watched, in a maintenance
        window, or with a sample that has settled since they were last judged."""
        settled = set()
        while self._settling and self._settling[0][0] <= now:
            at, key = heapq.heappop(self._settling)
            if self.settles_at.get(key) == at:  # else judged since, and due later
                del self.settles_at[key]
                settled.add(key)
        return sorted(touched | self.watching | settled | set(self.windows))

    def evaluate(self, key: Key, now: datetime) -> Verdict | None:
        """Judge one service at ``now``; the caller records the verdict's events, then
        ``commit``s it. None for a window of a service no longer configured."""
        track = self.tracks.get(key)
        if track is None or key not in self.by_key:
            return None
        return track.evaluate(now, self.windows.get(key, []))

    def commit(self, key: Key, verdict: Verdict, now: datetime) -> list[Event]:
        """Make the verdict final; returns the service-level events that are new."""
        track = self.tracks[key]
        return track.commit(verdict, now, self.windows.get(key, []))

    def bad_for(self, key: Key, state: RuleState, now: datetime) -> timedelta:
        """How long the service's bad run has lasted at ``now`` (``state``: one vantage's,
        after ``commit``), and keep judging it when time alone can change its verdict: every
        round while an outage or a bad run of any vantage goes on, and once more when its
        oldest unsettled sample settles."""
        track = self.tracks[key]
        bad_for = state.bad_for(now, track.rules)
        running = (
            bad_for > timedelta(0)
            or track.in_outage is not None
            or any(
                v.checkpoint.bad_for(now, track.rules) > timedelta(0)
                for v in track.vantages.values()
            )
        )
        if running:
            self.watching.add(key)
        else:
            self.watching.discard(key)
        oldest = min((v.pending[0].at for v in track.vantages.values() if v.pending), default=None)
        if oldest is None:
            self.settles_at.pop(key, None)
        elif self.settles_at.get(key) != (due := oldest + track.rules.lateness):
            self.settles_at[key] = due
            heapq.heappush(self._settling, (due, key))
        return bad_for

    def in_window(self, key: Key, now: datetime) -> bool:
        return any(w.start <= now < w.end for w in self.windows.get(key, []))

    def vantage_states(self, key: Key, verdict: Verdict, now: datetime) -> dict[str, VantageState]:
        """Each vantage's state for the read model. Its newest samples wait to be settled
        before the rule judges them, but a bad one already shows as bad."""
        track = self.tracks[key]
        vantages = {}
        for vantage, state in verdict.states.items():
            pending = track.vantages[vantage].pending
            if state.outage is not None:
                vantages[vantage] = VantageState("outage", state.outage.started_at)
            elif state.bad_for(now, track.rules) > timedelta(0):
                vantages[vantage] = VantageState("bad", state.bad_since)
            elif pending and pending[-1].mark is Mark.BAD:
                run = list(takewhile(lambda o: o.mark is Mark.BAD, reversed(pending)))
                vantages[vantage] = VantageState("bad", run[-1].at)
            elif pending or state.last_at is not None:
                vantages[vantage] = VantageState("ok")
            else:
                vantages[vantage] = VantageState("no data")
        return vantages


def judged(
    outage: Judgement,
    degraded: Judgement,
    key: Key,
    verdicts: tuple[Verdict, Verdict],
    now: datetime,
) -> Judged:
    """The read model's record of one service: its vantages, and whether it is in outage,
    in maintenance or degraded (by its own rule, or because a minority of its vantages,
    fewer than the quorum, judge it in outage)."""
    vantages = outage.vantage_states(key, verdicts[0], now)
    track = outage.tracks[key]
    minority = sum(v.state == "outage" for v in vantages.values()) > 0 and track.in_outage is None
    since = degraded.tracks[key].in_outage
    return Judged(
        vantages,
        track.in_outage is not None,
        outage.in_window(key, now),
        degraded=since is not None or minority,
        degraded_since=since.started_at if since is not None else None,
    )
