"""The edges of the rule, with the contract's own numbers (30 s probes, 15 min, 90 s gap)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from outagewatch.detection.rule import (
    Mark,
    Observation,
    Opened,
    Restored,
    RuleState,
    RunRules,
    Window,
    apply_windows,
    fold,
)

from .reference import at

RULES = RunRules(outage_after=timedelta(minutes=15), max_gap=timedelta(seconds=90), restore_after=2)


def samples(start: int, stop: int, *, bad: bool, every: int = 30) -> list[Observation]:
    return [Observation.of(at(t), bad) for t in range(start, stop, every)]


def events_at(obs: list[Observation], now_seconds: int) -> list[object]:
    return fold(RuleState(), obs, RULES, at(now_seconds))[1]


def test_14_59_of_bad_samples_is_no_outage() -> None:
    assert events_at(samples(0, 900, bad=True), 899) == []


def test_15_00_of_bad_samples_is_an_outage() -> None:
    assert events_at(samples(0, 900, bad=True), 900) == [Opened(at(0), at(900))]


def test_one_good_sample_resets_the_run() -> None:
    obs = samples(0, 600, bad=True) + samples(600, 601, bad=False) + samples(630, 1600, bad=True)
    assert events_at(obs, 1529) == []
    assert events_at(obs, 1530) == [Opened(at(630), at(1530))]


def test_a_timeout_counts_as_bad() -> None:
    # A timed-out probe is a failed sample; the daemon marks it bad like any failure.
    obs = [Observation.of(at(t), bad=True) for t in range(0, 1000, 60)]  # 60 s timeouts
    assert events_at(obs, 900) == [Opened(at(0), at(900))]


def test_a_gap_longer_than_max_gap_breaks_the_run() -> None:
    obs = samples(0, 300, bad=True) + samples(391, 2000, bad=True)  # a 121 s hole
    assert events_at(obs, 1290) == []
    assert events_at(obs, 1291) == [Opened(at(391), at(1291))]


def test_a_gap_of_exactly_max_gap_does_not_break_it() -> None:
    obs = samples(0, 300, bad=True) + samples(360, 2000, bad=True)  # 90 s from 270 to 360
    assert events_at(obs, 900) == [Opened(at(0), at(900))]


def test_a_restart_in_the_middle_of_a_bad_run_keeps_its_start_time() -> None:
    obs = samples(0, 1200, bad=True)
    before, first = fold(RuleState(), obs[:20], RULES, at(600))  # the daemon dies at 10:00
    assert first == [] and before.bad_since == at(0)
    # Restarted 60 s later (a gap inside max_gap); the state is rebuilt and carried on.
    _, events = fold(before, obs[22:], RULES, at(900))
    assert events == [Opened(at(0), at(900))]


def test_restoration_needs_restore_after_good_samples() -> None:
    obs = [*samples(0, 1000, bad=True), Observation.of(at(1000), False)]
    obs += [Observation.of(at(1030), True), Observation.of(at(1060), False)]
    obs += [Observation.of(at(1090), False)]
    events = events_at(obs, 2000)
    assert events == [Opened(at(0), at(900)), Restored(at(0), at(1060), at(1090))]


def test_bad_samples_inside_maintenance_do_not_count() -> None:
    obs = samples(0, 2000, bad=True)
    window = Window(at(300), at(1500))
    assert events_at(apply_windows(obs, [window]), 2000 - 1) == []


def test_after_maintenance_the_clock_starts_at_the_end_of_the_window() -> None:
    obs = samples(0, 3000, bad=True, every=40)
    marks = apply_windows(obs, [Window(at(300), at(1510))])
    assert Observation(at(1510), Mark.BAD) in marks
    assert events_at(marks, 2410) == [Opened(at(1510), at(2410))]


def test_an_outage_already_open_survives_maintenance_and_good_samples_restore_it() -> None:
    obs = samples(0, 1000, bad=True) + samples(1000, 1100, bad=False)
    marks = apply_windows(obs, [Window(at(950), at(2000))])
    assert events_at(marks, 2000) == [Opened(at(0), at(900)), Restored(at(0), at(1000), at(1030))]


@pytest.mark.parametrize(("now", "bad_for"), [(100, 100), (599, 599), (690, 690), (691, 0)])
def test_bad_for_is_the_early_warning(now: int, bad_for: int) -> None:
    state, _ = fold(RuleState(), samples(0, 601, bad=True, every=60), RULES, at(now))
    assert state.bad_for(at(now), RULES) == timedelta(seconds=bad_for)
