"""The leader's judgement loop: read every vantage's new samples, judge, record transitions.

All decisions are rule.py's and tracking.py's (beside this file); this module only moves data
between the store, the judgement, the read model and the export. ``now`` is always passed in.
The samples are written by sample_writer.py and read back by sample_reader.py; the gauges
and log lines are export.py's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outagewatch.config.targets import Target
from outagewatch.detection import transitions as transition_store
from outagewatch.detection.export import DetectionExport
from outagewatch.detection.judgement import Judgement, degraded_bad, degraded_rules, judged
from outagewatch.detection.rule import Event, Observation, Opened, RuleState, Verdict, Window
from outagewatch.detection.sample_reader import SampleReader
from outagewatch.detection.slices import Slices
from outagewatch.detection.tracking import ServiceTrack, VantageTrack
from outagewatch.states import ServiceStates
from outagewatch.store import samples as sample_store

SERVICE_LEVEL = "*"  # the vantage column of a service-level transition (across vantages)
# The degraded tier's transitions are stored beside the outage's, under "<vantage>~degraded"
# (and "*~degraded" for the service): whatever reads outages asks for "*" and never sees them.
DEGRADED = "~degraded"
Key = tuple[str, str]  # (platform, service)


@dataclass
class Detector:
    engine: AsyncEngine
    targets: list[Target]
    vantage: str
    export: DetectionExport
    # The read model every face reads: this detector's judgement, while it leads.
    states: ServiceStates = field(default_factory=ServiceStates)

    def __post_init__(self) -> None:
        self._judgement = Judgement(self.targets)
        self._degraded = Judgement(self.targets, degraded_rules)
        self.states.monitor(t.key for t in self.targets)
        self._reader = SampleReader(self.engine)  # every vantage's samples, each once
        self.reset()

    def track(self, key: Key) -> ServiceTrack:
        """What the outage rule remembers of one service."""
        return self._judgement.tracks[key]

    def vantages_up(self, now: datetime) -> set[str]:
        """The vantages whose data may still be whole (the leader's view)."""
        return self._judgement.vantages_up(now)

    def set_windows(self, windows: dict[Key, list[Window]]) -> None:
        """The maintenance windows of every service, before a round judges."""
        self._judgement.windows = self._degraded.windows = windows

    def reset(self) -> None:
        """Forget every judgement (this instance is no longer the leader)."""
        self._judgement.reset()
        self._degraded.reset()
        self.states.forget()
        self.export.reset()
        self._reader.reset()

    async def restore(self, now: datetime) -> None:
        """Rebuild every service's judgement from stored transitions and samples, so that a
        restart (or a new leader) never resets the 15-minute clock nor announces an outage
        twice. The samples themselves are then read by the next steps."""
        self.reset()
        oldest = now
        async with self.engine.connect() as conn:
            reporting, last = await _stored_state(conn)
            for target in self.targets:
                oldest = min(oldest, self._seed_track(target, now, reporting, last))
            await self._reader.resume(conn, oldest)  # nothing older is read again
        self._export_known(self.targets, now)

    def _export_known(self, targets: list[Target], now: datetime) -> None:
        """Every service's state gauges from the start, at 0 where nothing is wrong yet."""
        for target in targets:
            self._export(target, RuleState(), False, now)

    def _seed_track(
        self, target: Target, now: datetime, reporting: Reporting, last: LastEvents
    ) -> datetime:
        """Seed one service's track from its stored transitions; returns how far back its
        samples must be read again."""
        rules = target.rules
        longest = max(rules.outage_after, rules.degraded_for)
        lookback = now - (2 * longest + rules.max_gap + rules.lateness)
        seen = reporting.get(target.key, {})
        vantages = {v for v, at in seen.items() if at > lookback}
        if target.probed_here:
            vantages.add(self.vantage)
        for judgement, suffix in ((self._judgement, ""), (self._degraded, DEGRADED)):
            track = judgement.tracks[target.key]
            for vantage in vantages:
                seed = _seed(last.get((*target.key, vantage + suffix)))
                track.vantages[vantage] = VantageTrack(checkpoint=seed)
                if seed.last_at is not None:
                    judgement.reported(vantage, seed.last_at, track)
            service_last = last.get((*target.key, SERVICE_LEVEL + suffix))
            track.in_outage = service_last if isinstance(service_last, Opened) else None
            judgement.watching.add(target.key)
        return lookback

    async def retarget(self, targets: list[Target], now: datetime, leading: bool) -> None:
        """A reloaded config: every judgement of a kept service stays, its new rules apply
        from now on; a new service starts from what the store knows of it (a leader's view);
        a removed one is forgotten."""
        self.targets = targets
        added = self._judgement.retarget(targets)
        self._degraded.retarget(targets)
        self.states.monitor(t.key for t in targets)
        self.export.keep_only(set(self._judgement.by_key))
        if added and leading:
            async with self.engine.connect() as conn:
                reporting, last = await _stored_state(conn)
            for target in added:
                self._seed_track(target, now, reporting, last)
            self._export_known(added, now)

    async def step(self, now: datetime) -> bool:
        """Read every vantage's new samples, judge, record transitions; True when there was
        any work."""
        # Read all that is there before judging: after a restore, the window of every
        # service (650,000 samples at 10,000 services) was judged 5,000 samples at a time,
        # every service each time, for minutes.
        touched, full = await self._ingest()
        while full:
            more, full = await self._ingest()
            touched |= more
        keys = sorted(
            {*self._judgement.to_judge(touched, now), *self._degraded.to_judge(touched, now)}
        )
        decided = await self._judge(keys, now)
        return decided or bool(touched)

    async def _ingest(self) -> tuple[set[Key], bool]:
        """The services with new samples, and whether more may be waiting."""
        rows, more = await self._reader.read()
        touched = set()
        for _, platform, service, vantage, at, bad, duration, failed, detail in rows:
            target = self._judgement.by_key.get((platform, service))
            if target is None:
                continue  # a service no longer configured
            self._judgement.observe(target.key, vantage, Observation.of(at, bad))
            worse = degraded_bad(target, bad, duration, failed, detail or "")
            self._degraded.observe(target.key, vantage, Observation.of(at, worse))
            touched.add(target.key)
        return touched, more

    async def _judge(self, keys: list[Key], now: datetime) -> bool:
        decided = False
        slices = Slices()
        for key in keys:
            await slices.pause()
            verdict = self._judgement.evaluate(key, now)
            lower = self._degraded.evaluate(key, now)
            if verdict is None or lower is None:
                continue  # a window of a service no longer configured
            await self._record(key, verdict, "", now)
            await self._record(key, lower, DEGRADED, now)
            target = self._judgement.by_key[key]
            for event in self._judgement.commit(key, verdict, now):
                decided = True
                self.export.decision(target, event)
            for event in self._degraded.commit(key, lower, now):
                decided = True
                self.export.decision(target, event, "degraded")
            self._degraded.bad_for(key, lower.states.get(self.vantage, RuleState()), now)
            view = judged(self._judgement, self._degraded, key, (verdict, lower), now)
            self.states.judged(key, view)
            self._export(target, verdict.states.get(self.vantage, RuleState()), view.degraded, now)
        return decided

    async def _record(self, key: Key, verdict: Verdict, suffix: str, now: datetime) -> None:
        """Store the verdict's transitions (of the outage rule, or of the degraded tier)."""
        if not (verdict.events or any(verdict.vantage_events.values())):
            return
        async with self.engine.begin() as conn:
            for vantage, events in verdict.vantage_events.items():
                for event in events:
                    await transition_store.record(conn, *key, vantage + suffix, event, now)
            for event in verdict.events:
                await transition_store.record(conn, *key, SERVICE_LEVEL + suffix, event, now)

    def _export(self, target: Target, own: RuleState, degraded: bool, now: datetime) -> None:
        key = target.key
        bad_for = self._judgement.bad_for(key, own, now)  # also keeps a bad run judged
        self.export.service(
            target,
            own,
            bad_for,
            in_outage=self._judgement.tracks[key].in_outage is not None,
            in_window=self._judgement.in_window(key, now),
            degraded=degraded,
        )


# When each vantage of a service last reported, and the newest transition of every
# (platform, service, vantage): what a restore seeds the judgement with.
Reporting = dict[tuple[str, str], dict[str, datetime]]
LastEvents = dict[tuple[str, str, str], Event]


async def _stored_state(conn: AsyncConnection) -> tuple[Reporting, LastEvents]:
    """Two queries for every service at once: one per service took minutes at 10,000
    services."""
    reporting: Reporting = {}
    for (platform, service, vantage), at in (await sample_store.newest_starts(conn)).items():
        reporting.setdefault((platform, service), {})[vantage] = at
    return reporting, await transition_store.last_events(conn)


def _seed(last: Event | None) -> RuleState:
    if isinstance(last, Opened):
        return RuleState(bad_since=last.started_at, outage=last, last_at=last.detected_at)
    if last is not None:
        return RuleState(last_at=last.decided_at)
    return RuleState()
