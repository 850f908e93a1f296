"""Per-service judgement between batches: the detector's memory, still without I/O or clock.

Samples of overlapping probes complete out of order (a hung probe finishes after the next
one), so the newest observations are re-judged on every batch from a *checkpoint*: a state
that can no longer change, because every probe that started before it has finished, or
because a transition was recorded there. A recorded transition is final: an outage once
announced is ended by good samples, never retracted by a late one.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from outagewatch.detection.rule import (
    Event,
    Observation,
    Opened,
    Restored,
    RuleState,
    RunRules,
    Verdict,
    Window,
    apply_windows,
    fold,
    judge,
)


@dataclass
class VantageTrack:
    checkpoint: RuleState = field(default_factory=RuleState)
    pending: list[Observation] = field(default_factory=list)  # after the checkpoint, sorted

    def add(self, obs: Observation) -> None:
        if self.checkpoint.last_at is not None and obs.at <= self.checkpoint.last_at:
            return  # decided already (a late sample of a settled period)
        bisect.insort(self.pending, obs)

    def latest(self) -> datetime | None:
        return self.pending[-1].at if self.pending else self.checkpoint.last_at


@dataclass
class ServiceTrack:
    """Everything the detector remembers about one service across its vantages."""

    rules: RunRules
    quorum: int = 1
    vantages: dict[str, VantageTrack] = field(default_factory=dict)
    in_outage: Opened | None = None

    def add(self, vantage: str, obs: Observation) -> None:
        self.vantages.setdefault(vantage, VantageTrack()).add(obs)

    def active(self, now: datetime) -> set[str]:
        """Vantages whose data may still be whole: their newest sample started within
        ``max_gap`` plus the lateness of a result (a probe still running is not a hole).
        One that stopped reporting (its instance died) is left out of the quorum rather than
        holding it up."""
        oldest = now - self.rules.max_gap - self.rules.lateness
        return {
            v for v, t in self.vantages.items()
            if (t.latest() or datetime.min.replace(tzinfo=now.tzinfo)) >= oldest
        }  # fmt: skip

    def evaluate(self, now: datetime, windows: list[Window]) -> Verdict:
        """Judge what is settled at ``now``: the samples that started ``lateness`` ago or
        earlier, all of which have reported by now. Judging the newer ones too would let a
        fast answer overtake a slow one that started before it (an outage declared while a
        good answer is on its way, a restoration that a hung probe would have refuted).
        The caller records the verdict's events, then calls ``commit`` with it."""
        cut = now - self.rules.lateness
        active = self.active(now)
        tracks = {v: t for v, t in self.vantages.items() if v in active}
        seeds = {v: t.checkpoint for v, t in tracks.items()}
        marks = {v: [m for m in _marks(t, windows) if m.at <= cut] for v, t in tracks.items()}
        quorum = max(1, min(self.quorum, len(active)))
        return judge(seeds, marks, self.rules, cut, quorum, service=self.in_outage)

    def commit(self, verdict: Verdict, now: datetime, windows: list[Window]) -> list[Event]:
        """Make the verdict's transitions final and move each vantage's checkpoint up to
        its last transition or, without one, as far as the past is settled. Returns the
        service-level events that are new."""
        new: list[Event] = []
        for event in verdict.events:
            if isinstance(event, Opened) and self.in_outage is None:
                self.in_outage = event
                new.append(event)
            elif isinstance(event, Restored) and self.in_outage is not None:
                self.in_outage = None
                new.append(event)
        for vantage, track in self.vantages.items():
            if vantage not in verdict.states:
                continue  # left out of this judgement: its data waits for the next one
            events = verdict.vantage_events.get(vantage)
            cut = events[-1].at if events else _settled(now - self.rules.lateness, windows)
            done = [o for o in track.pending if o.at <= cut]
            if done or events:
                marks = [m for m in apply_windows(done, windows) if m.at <= cut]
                track.checkpoint, _ = fold(track.checkpoint, _after(track, marks), self.rules, cut)
                track.pending = [o for o in track.pending if o.at > cut]
        return new


def _after(track: VantageTrack, marks: list[Observation]) -> list[Observation]:
    last = track.checkpoint.last_at
    return marks if last is None else [m for m in marks if m.at > last]


def _marks(track: VantageTrack, windows: list[Window]) -> list[Observation]:
    return _after(track, apply_windows(track.pending, windows))


def _settled(cut: datetime, windows: list[Window]) -> datetime:
    """Never checkpoint inside a maintenance window: the end of a window needs the samples
    taken inside it (a service still bad at the end is bad from the end on)."""
    for window in windows:
        if window.start <= cut < window.end:
            cut = min(cut, window.start - timedelta(microseconds=1))
    return cut
