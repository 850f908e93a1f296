"""detection/rule.py against the brute-force reference, over random sample streams."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from outagewatch.detection.rule import (
    Observation,
    Opened,
    Restored,
    RuleState,
    RunRules,
    Window,
    apply_windows,
    fold,
    judge,
)

from .reference import at, reference

rules_st = st.builds(
    RunRules,
    outage_after=st.integers(10, 120).map(lambda s: timedelta(seconds=s)),
    max_gap=st.integers(5, 40).map(lambda s: timedelta(seconds=s)),
    restore_after=st.integers(1, 3),
)


@st.composite
def streams(draw: st.DrawFn) -> list[Observation]:
    """Samples with jittered intervals, holes (gaps) and flapping between good and bad."""
    t = draw(st.integers(0, 10))
    bad_bias = draw(st.floats(0.3, 0.95))
    obs = []
    for _ in range(draw(st.integers(0, 60))):
        t += draw(st.one_of(st.integers(1, 15), st.integers(1, 15), st.integers(16, 80)))
        obs.append(Observation.of(at(t), draw(st.floats(0, 1)) < bad_bias))
    return obs


@st.composite
def windows(draw: st.DrawFn) -> list[Window]:
    found = []
    for _ in range(draw(st.integers(0, 2))):
        start = draw(st.integers(0, 1500))
        found.append(Window(at(start), at(start + draw(st.integers(1, 300)))))
    return found


@settings(max_examples=300, deadline=None)
@given(streams(), windows(), rules_st, st.integers(0, 200))
def test_fold_matches_the_reference(
    obs: list[Observation], wins: list[Window], rules: RunRules, after: int
) -> None:
    marks = apply_windows(obs, wins)
    now = at((max((o.at for o in marks), default=at(0)) - at(0)).total_seconds() + after)
    _, events = fold(RuleState(), marks, rules, now)
    assert events == reference(marks, rules, now)


@settings(max_examples=200, deadline=None)
@given(streams(), rules_st, st.lists(st.integers(0, 60), max_size=5), st.integers(0, 100))
def test_restarting_anywhere_changes_nothing(
    obs: list[Observation], rules: RunRules, cuts: list[int], after: int
) -> None:
    """Folding in pieces, with the state carried over (a restart rebuilt from stored data),
    gives the same events at the same instants as one uninterrupted fold."""
    now = at(((obs[-1].at - at(0)).total_seconds() if obs else 0) + after)
    _, whole = fold(RuleState(), obs, rules, now)
    state, pieces = RuleState(), []
    edges = [*sorted({min(c, len(obs)) for c in cuts}), len(obs)]
    start = 0
    for edge in edges:
        chunk = obs[start:edge]
        chunk_now = chunk[-1].at if chunk else (obs[start - 1].at if start else at(0))
        if edge == len(obs):
            chunk_now = now
        state, events = fold(state, chunk, rules, chunk_now)
        pieces += events
        start = edge
    assert pieces == whole


@settings(max_examples=150, deadline=None)
@given(st.lists(streams(), min_size=1, max_size=3), rules_st, st.integers(1, 3))
def test_quorum_of_vantages(
    per_vantage: list[list[Observation]], rules: RunRules, quorum: int
) -> None:
    last = max((obs[-1].at for obs in per_vantage if obs), default=at(0))
    now = last + timedelta(seconds=100)
    named = {f"v{i}": obs for i, obs in enumerate(per_vantage)}
    verdict = judge({}, named, rules, now, quorum)
    # Reference: walk the union of per-vantage events and count vantages in outage.
    changes = sorted(  # at one instant, openings first (as the service would see them)
        (e.at, -1 if isinstance(e, Opened) else 1, name)
        for name, obs in named.items()
        for e in reference(obs, rules, now)
    )
    down, expected_opens = 0, 0
    for _, negated, _ in changes:
        before = down
        down -= negated
        expected_opens += before < quorum <= down
    opens = [e for e in verdict.events if isinstance(e, Opened)]
    assert len(opens) == expected_opens
    restores = [e for e in verdict.events if isinstance(e, Restored)]
    assert len(restores) in (len(opens), len(opens) - 1)
    assert verdict.in_outage(quorum) == (down >= quorum)
    if quorum > len(named):
        assert verdict.events == []
