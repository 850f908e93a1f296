"""The outage rule of DESIGN section 3, as pure functions of samples and ``now``.

A service is *bad* from one of its samples failing or being slower than ``slow_after``. An
*outage* starts when an unbroken run of bad samples has lasted ``outage_after``: its
``started_at`` is the first bad sample, its ``detected_at`` the moment the rule became true
(first bad sample + ``outage_after``). A hole in the data longer than ``max_gap`` breaks the
run, because nobody measured that period. It ends after ``restore_after`` good samples in a
row; ``restored_at`` is the first of them. Maintenance windows break runs: their bad
samples do not count, and a service still bad when a window ends is bad from its end on.

Nothing here reads a clock or does I/O: the daemon passes the samples and ``now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from outagewatch.maintenance.decisions import Window as Window  # re-exported: the rule reads it


class Mark(Enum):
    GOOD = "good"
    BAD = "bad"
    BREAK = "break"  # a maintenance window began: a pending run ends, an outage does not


@dataclass(frozen=True, order=True)
class Observation:
    at: datetime
    mark: Mark

    @classmethod
    def of(cls, at: datetime, bad: bool) -> Observation:
        return cls(at, Mark.BAD if bad else Mark.GOOD)


@dataclass(frozen=True)
class RunRules:
    outage_after: timedelta
    max_gap: timedelta
    restore_after: int
    # How long after its start a sample may still arrive (a probe ends by its timeout): until
    # then, silence after the last sample is a probe still running, not a hole in the data.
    lateness: timedelta = timedelta(0)


@dataclass(frozen=True)
class Opened:
    started_at: datetime
    detected_at: datetime

    @property
    def at(self) -> datetime:
        return self.detected_at


@dataclass(frozen=True)
class Restored:
    started_at: datetime  # of the outage that ended
    restored_at: datetime  # the first good sample of the streak
    decided_at: datetime  # the sample that completed the streak

    @property
    def at(self) -> datetime:
        return self.decided_at


Event = Opened | Restored


@dataclass(frozen=True)
class RuleState:
    """Where one vantage's judgement of one service stands after the samples so far."""

    bad_since: datetime | None = None  # first sample of the pending or current bad run
    last_bad: datetime | None = None
    outage: Opened | None = None
    good_streak: int = 0
    good_since: datetime | None = None
    last_at: datetime | None = None  # the last observation folded in

    def bad_for(self, now: datetime, rules: RunRules) -> timedelta:
        """How long the current bad run has lasted at ``now`` (0 when there is none).

        This is the early warning of ``outagewatch_service_bad_since_seconds``.
        """
        if self.outage is not None:
            return now - self.outage.started_at
        if self.bad_since is None or self.last_bad is None:
            return timedelta(0)
        if now > self.last_bad + rules.max_gap + rules.lateness:
            return timedelta(0)
        return now - self.bad_since


def apply_windows(
    observations: Sequence[Observation], windows: Iterable[Window]
) -> list[Observation]:
    """Turn maintenance windows into marks: a BREAK at each start, bad samples inside dropped
    (good ones kept: they may restore an outage), and a BAD at the end when the last sample
    inside was bad, so that the outage clock starts at the end of the window."""
    result = list(observations)
    for window in _merge(windows):
        inside = [o for o in result if window.start <= o.at < window.end]
        result = [
            o for o in result if not (window.start <= o.at < window.end and o.mark is Mark.BAD)
        ]
        result.append(Observation(window.start, Mark.BREAK))
        if inside and inside[-1].mark is Mark.BAD:
            result.append(Observation(window.end, Mark.BAD))
    return sorted(result, key=lambda o: (o.at, o.mark is not Mark.BREAK))


def _merge(windows: Iterable[Window]) -> list[Window]:
    merged: list[Window] = []
    for window in sorted(windows, key=lambda w: w.start):
        if merged and window.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Window(last.start, max(last.end, window.end))
        else:
            merged.append(window)
    return merged


def fold(
    state: RuleState, observations: Iterable[Observation], rules: RunRules, now: datetime
) -> tuple[RuleState, list[Event]]:
    """Advance ``state`` through time-ordered observations, then to ``now``.

    Observations are applied before the rule is judged at their instant: a good sample at
    the very moment a run would reach ``outage_after`` still prevents the outage.
    """
    events: list[Event] = []
    for obs in observations:
        if obs.at > now:
            break
        state = _tick(state, obs.at, rules, events, inclusive=False)
        state = _apply(state, obs, rules, events)
    state = _tick(state, now, rules, events, inclusive=True)
    return state, events


def _tick(
    state: RuleState, t: datetime, rules: RunRules, events: list[Event], *, inclusive: bool
) -> RuleState:
    """Declare the outage if the rule became true before ``t`` (or at ``t``)."""
    if state.outage is not None or state.bad_since is None or state.last_bad is None:
        return state
    deadline = state.bad_since + rules.outage_after
    reached = deadline <= t if inclusive else deadline < t
    if reached and deadline <= state.last_bad + rules.max_gap:
        opened = Opened(started_at=state.bad_since, detected_at=deadline)
        events.append(opened)
        return replace(state, outage=opened, good_streak=0, good_since=None)
    return state


def _apply(state: RuleState, obs: Observation, rules: RunRules, events: list[Event]) -> RuleState:
    # One replace() per observation: a restore folds the window of every service at once.
    if state.outage is not None:
        return _apply_in_outage(replace(state, last_at=obs.at), obs, rules, events)
    if obs.mark is Mark.BAD:
        broken = state.last_bad is None or obs.at - state.last_bad > rules.max_gap
        since = obs.at if broken else state.bad_since
        return replace(state, bad_since=since, last_bad=obs.at, last_at=obs.at)
    return replace(state, bad_since=None, last_bad=None, last_at=obs.at)


def _apply_in_outage(
    state: RuleState, obs: Observation, rules: RunRules, events: list[Event]
) -> RuleState:
    assert state.outage is not None
    if obs.mark is Mark.BREAK:
        return state
    if obs.mark is Mark.BAD:
        return replace(state, good_streak=0, good_since=None, last_bad=obs.at)
    since = state.good_since or obs.at
    if state.good_streak + 1 < rules.restore_after:
        return replace(state, good_streak=state.good_streak + 1, good_since=since)
    events.append(Restored(state.outage.started_at, restored_at=since, decided_at=obs.at))
    return RuleState(last_at=obs.at)


@dataclass(frozen=True)
class Verdict:
    """A service across its vantages: in outage while at least ``quorum`` vantages say so."""

    states: Mapping[str, RuleState]
    events: list[Event]  # the service's own, across vantages
    vantage_events: Mapping[str, list[Event]]

    def in_outage(self, quorum: int) -> bool:
        return sum(s.outage is not None for s in self.states.values()) >= quorum


def judge(
    seeds: Mapping[str, RuleState],
    observations: Mapping[str, Sequence[Observation]],
    rules: RunRules,
    now: datetime,
    quorum: int,
    service: Opened | None = None,
) -> Verdict:
    """Fold each vantage on its own, then combine them in time order.

    The service's outage starts when the quorum-th vantage declares one; its ``started_at``
    is the moment from which ``quorum`` vantages had been seeing it bad. It ends when fewer
    than ``quorum`` vantages remain in outage (``service``: its state so far, if known).
    One vantage whose own network fails does not make an outage unless it alone is the
    quorum.
    """
    states: dict[str, RuleState] = {}
    per_vantage: dict[str, list[Event]] = {}
    timeline: list[tuple[datetime, str, int, Event]] = []
    for vantage in sorted(set(seeds) | set(observations)):
        seed = seeds.get(vantage, RuleState())
        state, events = fold(seed, observations.get(vantage, ()), rules, now)
        states[vantage] = state
        per_vantage[vantage] = events
        timeline += [(e.at, vantage, i, e) for i, e in enumerate(events)]
    current = {v: s.outage for v, s in seeds.items() if s.outage is not None}
    # The service's own state, when known, wins over the one derived from the seeds: a
    # vantage that stopped reporting leaves the count without ending the outage.
    if service is None:
        service = _quorum_outage(current, quorum)
    service_events: list[Event] = []
    # At one instant, openings come before restorations: a vantage recovering at the very
    # moment another declares must not end the service's outage only to open a new one.
    order = sorted(timeline, key=lambda i: (i[0], isinstance(i[3], Restored), i[1], i[2]))
    for _, vantage, _, event in order:
        if isinstance(event, Opened):
            current[vantage] = event
            if service is None and len(current) >= quorum:
                reached = _quorum_outage(current, quorum)
                assert reached is not None
                service = Opened(reached.started_at, detected_at=event.detected_at)
                service_events.append(service)
        else:
            current.pop(vantage, None)
            if service is not None and len(current) < quorum:
                service_events.append(
                    Restored(service.started_at, event.restored_at, event.decided_at)
                )
                service = None
    return Verdict(states=states, events=service_events, vantage_events=per_vantage)


def _quorum_outage(current: Mapping[str, Opened], quorum: int) -> Opened | None:
    if len(current) < quorum:
        return None
    starts = sorted(o.started_at for o in current.values())
    detections = sorted(o.detected_at for o in current.values())
    return Opened(started_at=starts[quorum - 1], detected_at=detections[quorum - 1])
