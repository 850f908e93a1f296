"""The whole pipeline against the rule, over random timings and faults, in virtual time.

The real scheduler (``daemon/scheduler.py``: overlapping probes, skips past ``max_overlap``)
runs on an event loop whose clock jumps from timer to timer; a model of the server decides
each probe's duration and verdict by the time it starts (hang = the timeout, slow, refused,
partial answers, flapping). Its results reach the real judgement (``detection/judgement.py``,
the part of the detector that decides) in rounds paced by ``daemon/pacing.py``, as the
daemon hands them over. Every declared outage and restoration must be what the rule says of
all the samples taken (``detection/rule.py``, itself checked against the second-by-second
reference in test_rule_properties.py), and come at most ``lateness`` (one probe timeout and a
margin) and one round after the moment it became true. A server that stays bad long enough
must be declared, whatever the interval, timeout, overlap and fault.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from outagewatch.config import ImapService
from outagewatch.config.rules import Rules, RulesOverride, merge_rules
from outagewatch.config.targets import Target
from outagewatch.daemon.pacing import Pace
from outagewatch.daemon.scheduler import Prober
from outagewatch.detection.judgement import Judgement, degraded_bad, degraded_rules, run_rules
from outagewatch.detection.rule import Event, Observation, Opened, RuleState, fold
from outagewatch.probes.result import ErrorKind, ProbeResult

from .reference import reference
from .virtual_loop import VirtualClockLoop

EPOCH = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
KINDS = ("ok", "sluggish", "slow", "hang", "refused", "partial")
BAD_KINDS = {"slow", "hang", "refused", "partial"}
INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass(frozen=True)
class Segment:
    length: float  # seconds
    kind: str


@dataclass(frozen=True)
class Case:
    rules: Rules
    segments: tuple[Segment, ...]
    seed: int

    def kind_at(self, t: float) -> str:
        end = 0.0
        for segment in self.segments:
            end += segment.length
            if t < end:
                return segment.kind
        return "ok"

    @property
    def length(self) -> float:
        return sum(s.length for s in self.segments)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    interval = draw(st.sampled_from(INTERVALS))
    slow_after = interval * draw(st.sampled_from((0.2, 0.5, 1, 2, 3.5, 6, 10)))
    timeout = slow_after * draw(st.sampled_from((1, 1.5, 2, 3)))
    overlap = draw(st.integers(1, 5))
    outage_after = timedelta(seconds=interval * draw(st.integers(1, 40)))
    rules = merge_rules(
        RulesOverride(
            slow_after=timedelta(seconds=slow_after),
            outage_after=outage_after,
            probe_interval=timedelta(seconds=interval),
            probe_timeout=timedelta(seconds=timeout),
            restore_after=draw(st.integers(1, 3)),
            max_overlap=overlap,
            degraded_after=timedelta(seconds=slow_after * draw(st.sampled_from((0, 0.1, 0.5)))),
            degraded_for=timedelta(seconds=interval * draw(st.integers(1, 20))),
        )
    )
    assert rules.problems() == [], rules.problems()
    scale = (outage_after + rules.max_gap).total_seconds()
    segments = draw(
        st.lists(
            st.builds(
                Segment,
                length=st.floats(0.05, 1.5).map(lambda f: round(f * scale, 3)),
                kind=st.sampled_from(KINDS),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return Case(rules, tuple(segments), draw(st.integers(0, 2**32)))


def probe_model(case: Case, loop: asyncio.AbstractEventLoop):  # type: ignore[no-untyped-def]
    rng = random.Random(case.seed)
    slow = case.rules.slow_after.total_seconds()
    timeout = case.rules.probe_timeout.total_seconds()

    async def probe(service: object, rules: object) -> ProbeResult:
        started = loop.time()
        kind = case.kind_at(started)
        if kind == "slow" and timeout <= slow * 1.02:
            kind = "hang"  # no room between slow_after and the timeout
        duration = {
            "ok": 0.001,
            "sluggish": rng.uniform(0.001, slow * 0.99),  # good, and may be overtaken
            "slow": rng.uniform(slow * 1.01, timeout * 0.99),  # answers, too late
            "hang": timeout + 0.001,  # a probe gives up just after its deadline
            "refused": 0.001,
            "partial": rng.uniform(0.001, timeout),
        }[kind]
        await asyncio.sleep(duration)
        ok = kind in ("ok", "sluggish", "slow")
        return ProbeResult(
            started_at=EPOCH + timedelta(seconds=started),
            duration=duration,
            ok=ok,
            error_kind=None if ok else ErrorKind.TIMEOUT,
            phases={},
            detail=kind,
        )

    return probe


@dataclass
class Run:
    declared: list[tuple[datetime, Event]]  # when the pipeline decided, what
    samples: list[Observation]
    last_round: datetime
    # The same for the degraded tier, judged over the same samples by its own threshold.
    declared_degraded: list[tuple[datetime, Event]]
    samples_degraded: list[Observation]


async def run_pipeline(case: Case) -> Run:
    loop = asyncio.get_running_loop()
    service = ImapService(protocol="imap", host="127.0.0.1", port=1)
    target = Target("p", "s", service, case.rules)
    judgement = Judgement([target])
    lower = Judgement([target], degraded_rules)
    waiting: list[ProbeResult] = []
    samples: list[Observation] = []
    samples_lower: list[Observation] = []
    declared: list[tuple[datetime, Event]] = []
    declared_lower: list[tuple[datetime, Event]] = []
    slow_after = case.rules.slow_after.total_seconds()
    prober = Prober([target], lambda _, result: waiting.append(result), probe_model(case, loop))
    prober.start()
    pace, wake, stopping = Pace.of([target]), asyncio.Event(), asyncio.Event()
    stop_probing = case.length
    finish = stop_probing + case.rules.lateness.total_seconds() + pace.quiet
    last_round = EPOCH
    while loop.time() < finish:
        started = loop.time()
        if started >= stop_probing and prober.running:
            for slot in prober.slots:  # no new probes; those in flight still report
                if slot.timer is not None:
                    slot.timer.cancel()
            prober.running = False
        now = last_round = EPOCH + timedelta(seconds=started)
        batch, waiting[:] = list(waiting), []
        for result in batch:
            bad = result.is_bad(slow_after)
            obs = Observation.of(result.started_at, bad)
            samples.append(obs)
            judgement.observe(target.key, "v", obs)
            worse = degraded_bad(target, bad, result.duration, not result.ok, result.detail)
            samples_lower.append(Observation.of(result.started_at, worse))
            lower.observe(target.key, "v", samples_lower[-1])
        for judge, found in ((judgement, declared), (lower, declared_lower)):
            for key in judge.to_judge({target.key} if batch else set(), now):
                verdict = judge.evaluate(key, now)
                assert verdict is not None
                found += [(now, e) for e in judge.commit(key, verdict, now)]
                judge.bad_for(key, verdict.states.get("v", RuleState()), now)
        await pace.next_round(started, wake, stopping)
    await prober.stop()
    return Run(declared, sorted(samples), last_round, declared_lower, sorted(samples_lower))


def simulate(case: Case) -> Run:
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(run_pipeline(case))
    finally:
        loop.close()


def in_outage_at(events: list[Event], t: datetime) -> bool:
    state = False
    for event in events:
        if event.at <= t:
            state = isinstance(event, Opened)
    return state


# 800 cases take about 30 s of CPU; beside the other half of the parallel suite on two cores
# they took over a minute. The limit guards against a hang, not a slow machine.
@pytest.mark.timeout(300)
@settings(max_examples=800, deadline=None)
@given(cases())
def test_the_pipeline_declares_what_the_rule_says_of_all_samples(case: Case) -> None:
    logging.getLogger("outagewatch.daemon.scheduler").setLevel(logging.ERROR)
    run = simulate(case)
    rules = run_rules(case.rules)
    cut = run.last_round - rules.lateness
    _, expected = fold(RuleState(), run.samples, rules, cut)
    assert [e for _, e in run.declared] == expected
    lower = degraded_rules(case.rules)
    _, degraded = fold(RuleState(), run.samples_degraded, lower, cut)
    assert [e for _, e in run.declared_degraded] == degraded
    pace = Pace.of([Target("p", "s", ImapService(protocol="imap", host="h", port=1), case.rules)])
    for decided, event in run.declared:
        # Decided once every probe started by then has reported, and within one round.
        assert event.at + rules.lateness <= decided
        assert decided <= event.at + rules.lateness + timedelta(seconds=pace.quiet + 1e-3)
    # A server that stays bad long enough is declared, whatever the timings.
    r = case.rules
    t, needed = 0.0, (r.outage_after + 2 * r.max_gap).total_seconds()
    for segment in case.segments:
        if segment.kind in BAD_KINDS and segment.length >= needed:
            inside = EPOCH + timedelta(seconds=t) + r.outage_after + r.max_gap + r.probe_interval
            assert in_outage_at(expected, inside), (segment, t)
        t += segment.length


@settings(max_examples=150, deadline=None)
@given(
    cases().filter(
        lambda c: timedelta(seconds=1) <= c.rules.probe_interval <= timedelta(seconds=10)
    )
)
def test_on_whole_seconds_the_brute_force_reference_agrees(case: Case) -> None:
    """The same runs, checked against the second-by-second reference directly, where its
    whole-second clock can state them: schedules and faults on whole seconds."""
    whole = Case(
        case.rules,
        tuple(Segment(float(max(1, round(s.length))), s.kind) for s in case.segments),
        case.seed,
    )
    run = simulate(whole)
    rules = run_rules(whole.rules)
    assert all(o.at.microsecond == 0 for o in run.samples)  # probes start on whole seconds
    # Every event is on a whole second (a sample's start, or one plus outage_after), so the
    # events up to the cut are those up to its whole second.
    cut = (run.last_round - rules.lateness).replace(microsecond=0)
    assert [e for _, e in run.declared] == reference(run.samples, rules, cut)
    lower = degraded_rules(whole.rules)
    assert [e for _, e in run.declared_degraded] == reference(run.samples_degraded, lower, cut)
