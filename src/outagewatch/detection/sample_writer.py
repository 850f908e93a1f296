"""Every instance's first step: store what this vantage's probes saw.

Results wait in a bounded queue and are written a batch at a time: each a sample, and the
certificate facts of a service when they changed. Nothing here judges; the leader's
detector (beside this file) reads the samples back, with every other vantage's.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.certificates import store as certificate_store
from outagewatch.config.targets import Target
from outagewatch.detection.export import DetectionExport
from outagewatch.detection.judgement import outage_bad
from outagewatch.detection.slices import Slices
from outagewatch.probes import ProbeResult
from outagewatch.store import samples as sample_store
from outagewatch.store.samples import SampleRow
from outagewatch.store.series import SeriesCache
from outagewatch.tls.facts import TlsFacts

Key = tuple[str, str]  # (platform, service)
MAX_BATCH = 1000
# While the database is away the queue keeps an hour of 10,000 services at 30 s.
MAX_QUEUE = 1_200_000


class SampleWriter:
    def __init__(
        self, engine: AsyncEngine, targets: list[Target], vantage: str, export: DetectionExport
    ) -> None:
        self.engine = engine
        self.vantage = vantage
        self.export = export
        self._configured = {t.key for t in targets}
        self._queue: list[tuple[Target, ProbeResult]] = []
        self._series = SeriesCache(engine)  # ids of this vantage's series, kept for good
        # The certificate facts last stored per service (of this vantage): written on change.
        self._certificates: dict[Key, TlsFacts] = {}
        self._certificates_changed = False  # since ``certificates_changed`` last answered

    def accept(self, target: Target, result: ProbeResult) -> None:
        self._queue.append((target, result))

    def retarget(self, targets: list[Target]) -> None:
        """A reloaded config: results of services it no longer has are stored, not counted."""
        self._configured = {t.key for t in targets}

    def certificates_changed(self) -> bool:
        """Whether a stored certificate changed since the last time this was asked."""
        changed, self._certificates_changed = self._certificates_changed, False
        return changed

    async def step(self) -> bool:
        """Store a batch of this vantage's samples; True when there was one."""
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        if batch:
            try:
                await self._write(batch)
            except Exception:
                # The database is away: keep the samples for the next try, within a bound,
                # dropping the oldest beyond it.
                self._queue[:0] = batch
                del self._queue[: max(0, len(self._queue) - MAX_QUEUE)]
                raise
        return bool(batch)

    async def _write(self, batch: list[tuple[Target, ProbeResult]]) -> None:
        rows = [
            SampleRow(
                target.platform,
                target.service_id,
                self.vantage,
                result,
                outage_bad(target, result.is_bad(target.rules.slow_after.total_seconds())),
            )
            for target, result in batch
        ]
        changed = {
            target.key: (result.tls, result.started_at)
            for target, result in batch
            if result.tls is not None and self._certificates.get(target.key) != result.tls
        }
        known = await self._series.series_for((row.key, row.good_detail) for row in rows)
        async with self.engine.begin() as conn:
            await sample_store.insert_samples(conn, rows, known)
            for key, (facts, seen_at) in changed.items():
                await certificate_store.save_seen(conn, (*key, self.vantage), facts, seen_at)
        self._certificates.update({key: facts for key, (facts, _) in changed.items()})
        self._certificates_changed = self._certificates_changed or bool(changed)
        slices = Slices()  # a round's 333 results held the loop 10 ms here at 10,000
        for target, result in batch:  # counted once, after they are stored
            await slices.pause()
            if target.key not in self._configured:
                continue  # a probe that was running when a reload removed its service
            self.export.probe(target, result)
