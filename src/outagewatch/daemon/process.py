"""``outagewatch run``: start-up, the loops, and a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from outagewatch.api.auth import api_may_start
from outagewatch.api.context import ApiContext
from outagewatch.api.server import Listener, listen
from outagewatch.certificates.engine import CertificateEngine
from outagewatch.config import Config, ConfigError
from outagewatch.config.targets import Target
from outagewatch.daemon.collector import freeze_long_lived_objects
from outagewatch.daemon.housekeeping import Housekeeper
from outagewatch.daemon.http import make_app
from outagewatch.daemon.leadership import InstanceConflict, leadership_for
from outagewatch.daemon.probe_loop import ProbeLoop
from outagewatch.daemon.probe_workers import ProbeWorkers, probes_for
from outagewatch.daemon.reload import Reloader
from outagewatch.daemon.runtime import Current, Runtime, build_runtime
from outagewatch.daemon.waiting import until_database_answers
from outagewatch.detection.detector import Detector
from outagewatch.detection.export import DetectionExport
from outagewatch.detection.sample_writer import SampleWriter
from outagewatch.incidents.degraded import DegradedEngine
from outagewatch.incidents.engine import IncidentEngine
from outagewatch.logs import configure as configure_logging
from outagewatch.maintenance.engine import MaintenanceEngine
from outagewatch.metrics import Metrics
from outagewatch.notify.sender import Sender
from outagewatch.probes import ProbeResult
from outagewatch.probes.x509_preload import preload_x509
from outagewatch.states import ServiceStates
from outagewatch.store.engine import open_engine
from outagewatch.store.errors import classify, masked
from outagewatch.store.migrate import require_head, upgrade

log = logging.getLogger("outagewatch.daemon")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utcnow,
        migrate: bool = True,
        config_path: Path | None = None,
    ) -> None:
        # Every part reads the current runtime through this one holder; a reload swaps it.
        # Only what a reload refuses (reload.RESTART_ONLY) is taken from ``config`` here.
        current = self.current = Current(build_runtime(config))
        self.clock = clock
        self.migrate = migrate
        self.metrics = Metrics(phases=config.metrics.phases)
        self.engine = open_engine(config.database)
        # Every instance writes what its probes saw; the leader reads back every vantage's
        # samples and judges, into the read model the faces read and into the metrics.
        self.export = DetectionExport(self.metrics, config.vantage)
        self.samples = SampleWriter(self.engine, current().targets, config.vantage, self.export)
        self.states = ServiceStates()
        self.detector = Detector(
            self.engine, current().targets, config.vantage, self.export, self.states
        )
        self.housekeeper = Housekeeper(
            self.engine, lambda: current().config.retention, lambda: current().settle
        )
        self.incidents = IncidentEngine(self.engine, lambda: current().audiences)
        self.certificates = CertificateEngine(self.engine, lambda: current().config)
        self.degraded = DegradedEngine(self.engine, lambda: current().config)
        self.maintenance = MaintenanceEngine(
            self.engine, lambda: current().config, lambda: current().audiences
        )
        self.sender = Sender(
            self.engine,
            lambda: current().delivery,
            self.metrics,
            worker=f"{config.vantage}-{socket.gethostname()}-{os.getpid()}",
            on_relay_back=self.incidents.rewrite_waiting_updates,
        )
        self.wake = asyncio.Event()
        self.mail_wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.leadership = leadership_for(config.database, config.vantage, config.leader_takeover)
        self.prober: ProbeLoop | ProbeWorkers | None = None
        self.api_context: ApiContext | None = None
        self._helpers: list[asyncio.Task[None]] = []
        self._web: Listener | None = None
        self._trouble: dict[str, str] = {}  # loop -> the database failure it last logged
        self.reloader = Reloader(self, config_path)
        self.reloader.loaded(clock())

    @property
    def config(self) -> Config:
        return self.current().config

    async def adopt(self, new: Runtime, now: datetime) -> Runtime:
        """Swap ``new`` in (a reload) and return the runtime it replaces. Whatever reads
        through the holder follows at once; the parts with state of their own that the
        targets shape (the probes' timers, the judgement tracks) are told the new targets:
        kept services keep their state, new ones start, removed ones stop."""
        old = self.current.swap(new)
        if self.prober is not None:
            preload_x509(t.service for t in new.probed)
            self.prober.retarget(new.probed)
        kept = {t.key for t in new.targets}
        for target in old.targets:
            if target.key not in kept:
                self.export.forget_service(target)
        self.metrics.incidents_open.clear()  # re-exported next round, removed platforms gone
        if (new.config.log_format, new.config.log_level) != (
            old.config.log_format, old.config.log_level,
        ):  # fmt: skip
            configure_logging(new.config.log_format, new.config.log_level)
        self.samples.retarget(new.targets)
        # Last, as the only step that waits (new services' history from the database): the
        # runtime is in place before it does, so should it fail, they start from nothing.
        await self.detector.retarget(new.targets, now, self.leadership.is_leader)
        self.wake.set()
        self.mail_wake.set()
        return old

    def _accept(self, target: Target, result: ProbeResult) -> None:
        # Called as a round drains the probe loop: a round takes every result since the one
        # before. A round per result (or per 0.1 s) cost half the CPU of a probe at 100
        # services, in rounds' fixed costs (docs/BENCHMARKS.md; daemon/pacing.py).
        self.samples.accept(target, result)

    async def run(self) -> None:
        try:
            # Health, readiness and metrics answer from the start: while the database is
            # away /healthz says alive and /readyz not ready, as a supervisor expects.
            await self._serve()
            if await until_database_answers(self._prepare_database, self.engine.url, self.stopping):
                await self._start()
                await self._detect_until_stopped()
        finally:
            await self._shutdown()

    async def _start(self) -> None:
        problem = await api_may_start(self.engine, self.config.api.host)
        if problem is not None:
            raise ConfigError([f"api.listen: {problem}"])
        runtime = self.current()
        probed = runtime.probed
        preload_x509(t.service for t in probed)
        prober = probes_for(self.config, probed, self._accept, self.metrics, self.wake.set)
        await prober.start()
        self.prober = prober
        log.info(
            "probing %d of %d services from vantage %s (%s, %s); metrics on http://%s/metrics",
            len(probed),
            len(runtime.targets),
            self.config.vantage,
            "leader" if self.leadership.is_leader else "standby",
            f"{self.config.probe_worker_count} probe workers"
            if self.config.probe_worker_count
            else "probe thread",
            self.config.api.listen,
        )
        self._helpers = [
            asyncio.create_task(self._freeze_long_lived_objects()),
            asyncio.create_task(self._watch_loop_lag()),
            asyncio.create_task(self._send_until_stopped()),
        ]

    async def _prepare_database(self) -> None:
        """Migrate (or check) the schema and take the lead: the first database work."""
        await (upgrade(self.engine) if self.migrate else require_head(self.engine))
        try:
            await self._lead(self.clock())
        except InstanceConflict as exc:
            raise ConfigError([f"database: {exc}"]) from None

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.mail_wake.set()

    async def _lead(self, now: datetime) -> None:
        """Take or give up leadership; a new leader rebuilds its judgement from the store."""
        if not await self.leadership.step(now):
            return
        if self.leadership.is_leader:
            await self.detector.restore(now)
            self.mail_wake.set()
        else:
            self.detector.reset()
            self.metrics.forget_judgements()
        self.metrics.leader.set(1 if self.leadership.is_leader else 0)

    async def _detect_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            started = loop.time()
            # Cleared before the round: a batch, a reload or a stop during it calls the next.
            self.wake.clear()
            try:
                await self.reloader.step()  # between rounds: nothing is judging
                busy = await self._round()
                self._recovered("detection round")
            except Exception as exc:  # the database went away: keep probing, try again
                self._failed("detection round", exc)
                busy = False
            if not busy:
                await self.current().pace.next_round(started, self.wake, self.stopping)

    async def _round(self) -> bool:
        """Every instance writes its samples; the leader also judges, acts and mails."""
        if self.prober is not None:
            # The probe loop's results since the last round, first: a round that fails on
            # the database below must still move them into the writer's bounded queue.
            self.prober.drain()
        await self._lead(self.clock())
        while await self.samples.step():
            pass
        if not self.leadership.is_leader:
            return False
        while await self.maintenance.step(self.clock()):
            self.mail_wake.set()
        self.detector.set_windows(await self.maintenance.windows(self.clock()))
        while await self.detector.step(self.clock()):
            pass
        self.export.vantages(self.detector.vantages_up(self.clock()), self.config.all_vantages)
        while await self.incidents.step(self.clock()):
            self.mail_wake.set()
        while await self.degraded.step(self.clock()):
            self.mail_wake.set()
        await self.incidents.export_open(self.metrics.incidents_open)
        news = self.samples.certificates_changed()
        while await self.certificates.step(self.clock(), news=news):
            news = False
            self.mail_wake.set()
        # One unit of housekeeping between detector rounds, so it never delays detection.
        return await self.housekeeper.step(self.clock())

    def _failed(self, what: str, exc: Exception) -> None:
        """A database failure is one line when it starts or changes, not one per tick; any
        other failure is a bug and keeps its traceback."""
        problem = classify(exc, self.engine.url)
        if problem is None:
            log.exception("%s failed", what)
        elif self._trouble.get(what) != problem.kind:
            self._trouble[what] = problem.kind
            log.error("%s failed: %s", what, problem)

    def _recovered(self, what: str) -> None:
        if self._trouble.pop(what, None) is not None:
            log.warning("%s works again on database %s", what, masked(self.engine.url))

    async def _send_until_stopped(self) -> None:
        """The outbox sender runs on its own: a slow relay never holds up detection."""
        while not self.stopping.is_set():
            try:
                while self.leadership.is_leader and await self.sender.step(self.clock()):
                    pass
                await self.sender.export_backlog(self.clock())
                self._recovered("outbox sender step")
            except Exception as exc:  # a database hiccup: log it and try again at the next tick
                self._failed("outbox sender step", exc)
            self.mail_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.mail_wake.wait(), 1.0)

    async def _serve(self) -> None:
        current = self.current
        api = self.api_context = ApiContext(
            self.engine, lambda: current().config, self.incidents, self.states, self.clock,
            self.maintenance,
        )  # fmt: skip
        app = make_app(
            self.metrics,
            ready=lambda: self.prober is not None,
            api=api,
            leader=lambda: self.leadership.is_leader,
        )
        app.router.add_post("/-/reload", self.reloader.route())
        try:  # bounded: connections, header time, keep-alive, a stop's grace (api/server.py)
            self._web = await listen(app, self.config.api.host, self.config.api.port)
        except OSError as exc:  # the port is taken, or the address is not this host's
            raise ConfigError(
                [f"api.listen: cannot listen on {self.config.api.listen}: {exc.strerror or exc}"]
            ) from None

    async def _shutdown(self) -> None:
        self.reloader.cancel()
        for task in self._helpers:
            task.cancel()
        await asyncio.gather(*self._helpers, return_exceptions=True)
        if self.prober is not None:
            await self.prober.stop()  # in-flight probes are cancelled, not awaited to the end
            try:
                while await self.samples.step():  # flush the last batch
                    pass
            except Exception as exc:  # the database is away: those samples are lost
                self._failed("writing the last samples", exc)
        await self.leadership.close()
        if self._web is not None:
            await self._web.close()
        await self.engine.dispose()
        log.info("stopped")

    async def _freeze_long_lived_objects(self) -> None:
        """One interval after the start: every service has its job, track and series."""
        targets = self.current().targets
        await asyncio.sleep(max(t.rules.probe_interval for t in targets).total_seconds())
        freeze_long_lived_objects()

    async def _watch_loop_lag(self) -> None:
        interval = 0.5
        main, probes = self.metrics.loop_lag.labels("main"), self.metrics.loop_lag.labels("probes")
        while True:
            before = time.perf_counter()
            await asyncio.sleep(interval)
            main.set(max(0.0, time.perf_counter() - before - interval))
            if self.prober is not None:
                probes.set(self.prober.lag)


async def run_daemon(
    config: Config, *, migrate: bool = True, config_path: Path | None = None
) -> None:
    daemon = Daemon(config, migrate=migrate, config_path=config_path)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.stop)
    # SIGHUP re-reads the config (daemon/reload.py); the outcome is logged and exported.
    loop.add_signal_handler(signal.SIGHUP, daemon.reloader.request)
    try:
        await daemon.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
