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

from aiohttp import web

from outagewatch.api.app import make_app
from outagewatch.api.auth import api_may_start
from outagewatch.api.context import ApiContext
from outagewatch.config import Config, ConfigError, read_secret, secret_problems
from outagewatch.detector import Detector
from outagewatch.housekeeping import Housekeeper
from outagewatch.incident_engine import IncidentEngine
from outagewatch.maintenance_engine import MaintenanceEngine
from outagewatch.metrics import Metrics
from outagewatch.notify.sender import Sender
from outagewatch.probes import ProbeResult
from outagewatch.scheduler import Prober, Target, targets_of
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade

log = logging.getLogger("outagewatch.daemon")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Daemon:
    def __init__(self, config: Config, *, clock: Clock = utcnow, migrate: bool = True) -> None:
        problems = secret_problems(config)
        if problems:
            raise ConfigError(problems)
        self.config = config
        self.clock = clock
        self.migrate = migrate
        self.metrics = Metrics()
        self.engine = open_engine(config.database)
        self.targets = targets_of(config)
        self.detector = Detector(self.engine, self.targets, config.vantage, self.metrics)
        settle = max(t.rules.probe_timeout + t.rules.probe_interval for t in self.targets)
        self.housekeeper = Housekeeper(self.engine, config.retention, settle)
        self.incidents = IncidentEngine(self.engine, config)
        self.maintenance = MaintenanceEngine(
            self.engine, config, self.incidents.audiences, config.maintenance.finish_grace
        )
        relay_password = (
            read_secret(config.smtp.secret) if config.smtp and config.smtp.secret else None
        )
        self.sender = Sender(
            self.engine,
            config.smtp,
            relay_password,
            self.metrics,
            worker=f"{config.vantage}-{socket.gethostname()}-{os.getpid()}",
            lease=config.outbox.lease,
            backoff_base=config.outbox.retry_base,
            backoff_cap=config.outbox.retry_cap,
            send_timeout=config.outbox.send_timeout.total_seconds(),
        )
        self.wake = asyncio.Event()
        self.mail_wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.prober: Prober | None = None
        self._web: web.AppRunner | None = None
        # Judge at least this often: time alone turns a bad run into an outage.
        shortest = min(t.rules.probe_interval.total_seconds() for t in self.targets)
        self.tick = min(1.0, max(0.05, shortest / 4))

    def _accept(self, target: Target, result: ProbeResult) -> None:
        self.detector.accept(target, result)
        self.wake.set()

    async def run(self) -> None:
        if self.migrate:
            await upgrade(self.engine)
        await self.detector.restore(self.clock())
        await self._serve()
        self.prober = Prober(self.targets, self._accept, self.clock())
        self.prober.start()
        log.info(
            "watching %d services from vantage %s; metrics on http://%s/metrics",
            len(self.targets),
            self.config.vantage,
            self.config.api.listen,
        )
        helpers = [
            asyncio.create_task(self._watch_loop_lag()),
            asyncio.create_task(self._send_until_stopped()),
        ]
        try:
            await self._detect_until_stopped()
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self._shutdown()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        self.mail_wake.set()

    async def _detect_until_stopped(self) -> None:
        while not self.stopping.is_set():
            while await self.maintenance.step(self.clock()):
                self.mail_wake.set()
            self.detector.windows = await self.maintenance.windows(self.clock())
            while await self.detector.step(self.clock()):
                pass
            while await self.incidents.step(self.clock()):
                self.mail_wake.set()
            await self.incidents.export_open(self.metrics.incidents_open)
            # One unit of housekeeping between detector rounds, so it never delays detection.
            if await self.housekeeper.step(self.clock()):
                continue
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.tick)

    async def _send_until_stopped(self) -> None:
        """The outbox sender runs on its own: a slow relay never holds up detection."""
        while not self.stopping.is_set():
            try:
                while await self.sender.step(self.clock()):
                    pass
                await self.sender.export_backlog(self.clock())
            except Exception:  # a database hiccup: log it and try again at the next tick
                log.exception("outbox sender step failed")
            self.mail_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.mail_wake.wait(), 1.0)

    async def _serve(self) -> None:
        problem = await api_may_start(self.engine, self.config.api.host)
        if problem is not None:
            raise ConfigError([f"api.listen: {problem}"])
        api = ApiContext(
            self.engine, self.config, self.incidents, self.detector, self.clock, self.maintenance
        )
        app = make_app(self.metrics, ready=lambda: self.prober is not None, api=api)
        self._web = web.AppRunner(app, access_log=None)
        await self._web.setup()
        site = web.TCPSite(self._web, self.config.api.host, self.config.api.port)
        await site.start()

    async def _shutdown(self) -> None:
        if self.prober is not None:
            await self.prober.stop()  # in-flight probes are cancelled, not awaited to the end
        while await self.detector.step(self.clock()):  # flush the last batch
            pass
        if self._web is not None:
            await self._web.cleanup()
        await self.engine.dispose()
        log.info("stopped")

    async def _watch_loop_lag(self) -> None:
        interval = 0.5
        while True:
            before = time.perf_counter()
            await asyncio.sleep(interval)
            self.metrics.loop_lag.set(max(0.0, time.perf_counter() - before - interval))


async def run_daemon(config: Config, *, migrate: bool = True) -> None:
    daemon = Daemon(config, migrate=migrate)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.stop)
    try:
        await daemon.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
