"""The detector's memory between batches gives the same verdicts as one pass over all data."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from outagewatch.detection.rule import (
    Event,
    Observation,
    Opened,
    Restored,
    RuleState,
    RunRules,
    fold,
)
from outagewatch.detection.tracking import ServiceTrack

from .reference import at
from .test_rule_properties import rules_st, streams


def run_batches(track: ServiceTrack, obs: list[Observation], batch: int) -> list[Event]:
    """Samples arrive in batches; each is judged ``lateness`` after it started (when every
    probe that started before it has reported)."""
    recorded: list[Event] = []
    for i in range(0, len(obs), batch):
        chunk = obs[i : i + batch]
        for o in chunk:
            track.add("fra", o)
        now = chunk[-1].at + track.rules.lateness
        verdict = track.evaluate(now, [])
        recorded += track.commit(verdict, now, [])
    return recorded


@settings(max_examples=200, deadline=None)
@given(streams(), rules_st, st.integers(1, 7), st.integers(1, 120))
def test_batches_in_order_match_one_fold(
    obs: list[Observation], rules: RunRules, batch: int, settle: int
) -> None:
    track = ServiceTrack(rules=replace(rules, lateness=timedelta(seconds=settle)))
    recorded = run_batches(track, obs, batch)
    if obs:
        _, whole = fold(RuleState(), obs, rules, obs[-1].at)
        assert recorded == whole


def test_a_late_sample_is_still_judged_while_unsettled() -> None:
    rules = RunRules(timedelta(seconds=60), timedelta(seconds=30), restore_after=1)
    track = ServiceTrack(rules=replace(rules, lateness=timedelta(seconds=90)))
    for t in range(0, 50, 10):
        track.add("fra", Observation.of(at(t), True))
    track.commit(track.evaluate(at(50), []), at(50), [])
    # A probe started at 55 hangs; the one started at 60 answers fast and well. Then the
    # hung one comes back bad later: both count, in start order.
    track.add("fra", Observation.of(at(60), False))
    track.add("fra", Observation.of(at(55), True))
    # Judged once both have reported: 85 s is within max_gap of the last sample.
    verdict = track.evaluate(at(85 + 90), [])
    assert verdict.events == []
    assert verdict.states["fra"].last_at == at(60)  # 55 was folded before 60, not dropped
    assert verdict.states["fra"].bad_since is None  # the good sample at 60 ended the run


def test_an_announced_outage_is_ended_by_good_samples_not_retracted() -> None:
    rules = RunRules(timedelta(seconds=60), timedelta(seconds=30), restore_after=2)
    track = ServiceTrack(rules=replace(rules, lateness=timedelta(seconds=90)))
    for t in range(0, 70, 10):
        track.add("fra", Observation.of(at(t), True))
    opened = track.commit(track.evaluate(at(150), []), at(150), [])  # settled up to 60
    assert opened == [Opened(at(0), at(60))]
    track.add("fra", Observation.of(at(45), False))  # late, and before the decision: ignored
    track.add("fra", Observation.of(at(70), False))
    track.add("fra", Observation.of(at(80), False))
    restored = track.commit(track.evaluate(at(170), []), at(170), [])
    assert restored == [Restored(at(0), at(70), at(80))]


def feed(track: ServiceTrack, vantage: str, seconds: range, *, bad: bool) -> None:
    for t in seconds:
        track.add(vantage, Observation.of(at(t), bad))


def test_a_vantage_that_stops_reporting_leaves_the_quorum() -> None:
    rules = RunRules(timedelta(seconds=60), timedelta(seconds=20), restore_after=1)
    track = ServiceTrack(rules=replace(rules, lateness=timedelta(seconds=30)), quorum=2)
    # Two vantages: nyc's instance dies at 10 s; fra alone sees the service go bad.
    feed(track, "nyc", range(0, 11, 5), bad=False)
    feed(track, "fra", range(0, 200, 5), bad=True)
    opened = track.commit(track.evaluate(at(100), []), at(100), [])
    assert opened == [Opened(at(0), at(60))]  # nyc left the quorum after max_gap
    assert track.active(at(100)) == {"fra"}


def test_an_outage_outlives_a_dead_vantage_until_the_living_recover() -> None:
    rules = RunRules(timedelta(seconds=60), timedelta(seconds=20), restore_after=1)
    track = ServiceTrack(rules=replace(rules, lateness=timedelta(seconds=30)), quorum=2)
    for vantage in ("fra", "nyc"):
        feed(track, vantage, range(0, 100, 5), bad=True)
    feed(track, "sfo", range(0, 300, 5), bad=False)
    assert track.commit(track.evaluate(at(95), []), at(95), []) == [Opened(at(0), at(60))]
    # fra dies at 100 s: nyc still sees the outage, which goes on.
    feed(track, "nyc", range(100, 200, 5), bad=True)
    assert track.commit(track.evaluate(at(195), []), at(195), []) == []
    assert track.in_outage is not None
    feed(track, "nyc", range(200, 220, 5), bad=False)
    assert track.commit(track.evaluate(at(245), []), at(245), []) == [
        Restored(at(0), at(200), at(200))
    ]
