"""The detector loop's step: write the batch of samples, judge, record transitions, export.

All decisions are detection.py's and tracking.py's; this module only moves data between the
probes, the store, the metrics and the logs. ``now`` is always passed in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.detection import Event, Observation, Opened, RunRules, State, Window
from outagewatch.durations import format_duration
from outagewatch.logs import hhmmss
from outagewatch.metrics import Metrics
from outagewatch.probes import ProbeResult
from outagewatch.scheduler import Target
from outagewatch.store import samples as sample_store
from outagewatch.store import transitions as transition_store
from outagewatch.store.samples import SampleRow
from outagewatch.tracking import ServiceTrack, VantageTrack

log = logging.getLogger("outagewatch.detector")
SERVICE_LEVEL = "*"  # the vantage column of a service-level transition (across vantages)
MAX_BATCH = 1000


def run_rules(target: Target) -> RunRules:
    rules = target.rules
    return RunRules(rules.outage_after, rules.max_gap, rules.restore_after)


@dataclass
class Detector:
    engine: AsyncEngine
    targets: list[Target]
    vantage: str
    metrics: Metrics
    queue: list[tuple[Target, ProbeResult]] = field(default_factory=list)
    tracks: dict[tuple[str, str], ServiceTrack] = field(default_factory=dict)
    watching: set[tuple[str, str]] = field(default_factory=set)  # judged even without samples
    bad_logged: dict[tuple[str, str], datetime | None] = field(default_factory=dict)
    # The latest judgement of every vantage, for the API's view of the services.
    live: dict[tuple[str, str], dict[str, State]] = field(default_factory=dict)
    # Maintenance windows per service, refreshed by the daemon before each round.
    windows: dict[tuple[str, str], list[Window]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_key = {t.key: t for t in self.targets}
        for target in self.targets:
            self.tracks[target.key] = ServiceTrack(
                rules=run_rules(target),
                # A sample is settled once no probe that started before it can still report.
                settle=target.rules.probe_timeout + target.rules.probe_interval,
            )

    def accept(self, target: Target, result: ProbeResult) -> None:
        self.queue.append((target, result))

    async def restore(self, now: datetime) -> None:
        """Rebuild every service's judgement from stored transitions and samples, so that a
        restart never resets the 15-minute clock nor announces an outage twice."""
        async with self.engine.connect() as conn:
            for target in self.targets:
                track = self.tracks[target.key]
                rules = target.rules
                lookback = now - (2 * rules.outage_after + rules.max_gap + rules.probe_timeout)
                found = await sample_store.observations_since(conn, *target.key, lookback)
                for vantage in {*found, self.vantage}:
                    last = await transition_store.last_event(conn, *target.key, vantage)
                    track.vantages[vantage] = VantageTrack(checkpoint=_seed(last))
                    for obs in found.get(vantage, []):
                        track.add(vantage, obs)
                service_last = await transition_store.last_event(conn, *target.key, SERVICE_LEVEL)
                track.in_outage = service_last if isinstance(service_last, Opened) else None
                self.watching.add(target.key)

    async def step(self, now: datetime) -> bool:
        """One unit of work; True when there was any (the loop repeats until False)."""
        batch, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
        if batch:
            await self._write(batch)
        touched = {target.key for target, _ in batch} | self.watching
        decided = await self._judge(touched, now)
        return bool(batch) or decided

    async def _write(self, batch: list[tuple[Target, ProbeResult]]) -> None:
        rows = []
        for target, result in batch:
            slow_after = target.rules.slow_after.total_seconds()
            bad = result.is_bad(slow_after)
            rows.append(SampleRow(target.platform, target.service_id, self.vantage, result, bad))
            self.metrics.observe_probe(self._labels(target), result, slow_after)
            self.tracks[target.key].add(self.vantage, _observation(result, bad))
        async with self.engine.begin() as conn:
            await sample_store.insert_samples(conn, rows)

    async def _judge(self, keys: set[tuple[str, str]], now: datetime) -> bool:
        decided = False
        for key in sorted(keys | set(self.windows)):
            target, track = self.by_key.get(key), self.tracks.get(key)
            if target is None or track is None:
                continue  # a window of a service no longer configured
            windows = self.windows.get(key, [])
            verdict = track.evaluate(now, windows)
            if verdict.events or any(verdict.vantage_events.values()):
                async with self.engine.begin() as conn:
                    for vantage, events in verdict.vantage_events.items():
                        for event in events:
                            await transition_store.record(conn, *key, vantage, event, now)
                    for event in verdict.events:
                        await transition_store.record(conn, *key, SERVICE_LEVEL, event, now)
            for event in track.commit(verdict, now, windows):
                decided = True
                self._log_decision(target, event)
            self.live[key] = dict(verdict.states)
            own = verdict.states.get(self.vantage, State())
            self._export(target, track, own, now, windows)
        return decided

    def _export(
        self, target: Target, track: ServiceTrack, own: State, now: datetime, windows: list[Window]
    ) -> None:
        labels = self._labels(target)
        bad_for = own.bad_for(now, track.rules)
        self.metrics.bad_since.labels(*labels).set(bad_for.total_seconds())
        self.metrics.outage.labels(*labels).set(1 if track.in_outage else 0)
        inside = any(w.start <= now < w.end for w in windows)
        self.metrics.in_maintenance.labels(*labels).set(1 if inside else 0)
        # Keep judging a service while time alone can change its verdict.
        if bad_for > timedelta(0) or track.in_outage is not None:
            self.watching.add(target.key)
            since = own.outage.started_at if own.outage else own.bad_since
            if since is not None and self.bad_logged.get(target.key) != since:
                self.bad_logged[target.key] = since
                log.warning(
                    "service %s on %s bad since %s",
                    target.service_id,
                    target.platform,
                    hhmmss(since),
                    extra=_fields(target),
                )
        else:
            self.watching.discard(target.key)
            self.bad_logged.pop(target.key, None)

    def _log_decision(self, target: Target, event: Event) -> None:
        if isinstance(event, Opened):
            log.error(
                "outage declared: %s on %s, bad since %s, detected at %s",
                target.service_id,
                target.platform,
                hhmmss(event.started_at),
                hhmmss(event.detected_at),
                extra=_fields(target),
            )
        else:
            log.warning(
                "restored: %s on %s at %s after %s",
                target.service_id,
                target.platform,
                hhmmss(event.restored_at),
                format_duration(
                    timedelta(seconds=round((event.restored_at - event.started_at).total_seconds()))
                ),
                extra=_fields(target),
            )

    def _labels(self, target: Target) -> tuple[str, str, str, str]:
        return target.platform, target.service_id, target.service.protocol, self.vantage


def _observation(result: ProbeResult, bad: bool) -> Observation:
    return Observation.of(result.started_at, bad)


def _seed(last: Event | None) -> State:
    if isinstance(last, Opened):
        return State(bad_since=last.started_at, outage=last, last_at=last.detected_at)
    if last is not None:
        return State(last_at=last.decided_at)
    return State()


def _fields(target: Target) -> dict[str, str]:
    return {"platform": target.platform, "service": target.service_id}
