"""A brute-force statement of the outage rule, to check detection/rule.py against.

It walks time second by second and asks, at each instant, the question of DESIGN section 3
literally, over integer-second streams. Slow and obvious on purpose.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from outagewatch.detection.rule import Event, Mark, Observation, Opened, Restored, RunRules

EPOCH = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def secs(t: datetime) -> int:
    return round((t - EPOCH).total_seconds())


def reference(obs: list[Observation], rules: RunRules, now: datetime) -> list[Event]:
    outage_after = secs(EPOCH + rules.outage_after)
    max_gap = secs(EPOCH + rules.max_gap)
    events: list[Event] = []
    begin = 0  # index of the first observation that counts (after the last restoration)
    t = secs(obs[0].at) if obs else 0
    end = secs(now)
    while t <= end:
        seen = [o for o in obs[begin:] if secs(o.at) <= t]
        run = _current_run(seen, max_gap)
        if run and t - secs(run[-1].at) <= max_gap and t - secs(run[0].at) >= outage_after:
            opened = Opened(run[0].at, at(secs(run[0].at) + outage_after))
            assert secs(opened.detected_at) == t, "the rule must first hold at its deadline"
            events.append(opened)
            restored = _restoration(obs, opened, rules.restore_after)
            if restored is None:
                return events
            index, event = restored
            if event.decided_at > now:
                return events
            events.append(event)
            begin = index + 1
            t = secs(event.decided_at)
        t += 1
    return events


def _current_run(seen: list[Observation], max_gap: int) -> list[Observation]:
    run: list[Observation] = []
    for o in seen:
        if o.mark is not Mark.BAD:
            run = []
        elif run and secs(o.at) - secs(run[-1].at) > max_gap:
            run = [o]
        else:
            run.append(o)
    return run


def _restoration(
    obs: list[Observation], opened: Opened, restore_after: int
) -> tuple[int, Restored] | None:
    streak: list[Observation] = []
    for index, o in enumerate(obs):
        if o.at <= opened.detected_at or o.mark is Mark.BREAK:
            continue
        if o.mark is Mark.BAD:
            streak = []
            continue
        streak.append(o)
        if len(streak) == restore_after:
            return index, Restored(opened.started_at, streak[0].at, o.at)
    return None
