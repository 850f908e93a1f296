"""Re-reading the config on SIGHUP and ``POST /-/reload``, as Prometheus does.

A valid file is applied between two detection rounds, without a restart and without losing
state: judgements of kept services stay (their new rules apply from now on), new services
start probing within one interval, removed ones stop and their open outages are ended in
their incident as "no longer monitored". New lists, cadences and templates take effect
from the next mail. A file that does not load, or that changes what only a restart can
change, is refused, one log line per problem, and the running config stays.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from aiohttp import web
from jinja2 import Environment

from outagewatch.api.auth import requires
from outagewatch.api.context import ApiContext
from outagewatch.api.problems import problem
from outagewatch.config import Config, ConfigError, load_config, read_secret, secret_problems
from outagewatch.config.targets import Target, targets_of
from outagewatch.daemon.housekeeping import Housekeeper
from outagewatch.daemon.leadership import Leadership
from outagewatch.daemon.pacing import Pace
from outagewatch.daemon.probe_loop import ProbeLoop
from outagewatch.daemon.template_check import checked_templates
from outagewatch.detection.detector import Detector
from outagewatch.incidents.degraded import DegradedEngine
from outagewatch.incidents.engine import IncidentEngine
from outagewatch.logs import configure as configure_logging
from outagewatch.maintenance.engine import MaintenanceEngine
from outagewatch.metrics import Metrics
from outagewatch.notify.sender import Sender
from outagewatch.probes.certificates import preload_x509

log = logging.getLogger("outagewatch.reload")
ANSWER_WITHIN = 60.0  # seconds: the reload waits for the current detection round to end

# What a running daemon cannot change in place: the socket it listens on, the database its
# state lives in, and the name its samples are written under.
RESTART_ONLY: dict[str, Callable[[Config], object]] = {
    "api.listen": lambda c: c.api.listen,
    "database": lambda c: c.database,
    "vantage": lambda c: c.vantage,
}


def restart_only_changes(running: Config, new: Config) -> list[str]:
    """One problem per setting the file changes that only a restart can apply. Values are
    not repeated: the database URL may carry a password."""
    return [
        f"{path}: changed in the file, but a change of {path} needs a restart"
        " (the running daemon keeps the old value)"
        for path, value in RESTART_ONLY.items()
        if value(running) != value(new)
    ]


class Reloadable(Protocol):
    """Everything of the running daemon (daemon/process.py) that a reload reads or replaces."""

    config: Config
    targets: list[Target]
    detector: Detector
    prober: ProbeLoop | None
    metrics: Metrics
    incidents: IncidentEngine
    maintenance: MaintenanceEngine
    degraded: DegradedEngine
    sender: Sender
    api_context: ApiContext | None
    housekeeper: Housekeeper
    leadership: Leadership
    pace: Pace
    wake: asyncio.Event
    mail_wake: asyncio.Event
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class Changes:
    """What a new config does to the monitored services, by key."""

    added: list[Target]
    removed: list[Target]
    changed: list[Target]  # same service, new definition or rules

    def summary(self) -> str:
        def names(targets: list[Target]) -> str:
            return ", ".join("/".join(t.key) for t in targets) or "none"

        return (
            f"added {names(self.added)}; removed {names(self.removed)};"
            f" changed {names(self.changed)}"
        )


def changes_between(running: list[Target], new: list[Target]) -> Changes:
    before = {t.key: t for t in running}
    after = {t.key: t for t in new}
    return Changes(
        added=[t for k, t in after.items() if k not in before],
        removed=[t for k, t in before.items() if k not in after],
        changed=[t for k, t in after.items() if k in before and before[k] != t],
    )


@dataclass
class Reloader:
    """Reload requests, served by the detection loop's ``step`` between two rounds so that
    nothing reads the config while it is swapped."""

    daemon: Reloadable
    path: Path | None
    pending: list[asyncio.Future[list[str]]] = field(default_factory=list)

    def loaded(self, now: datetime) -> None:
        """The start-up load counts as the first successful one."""
        self.daemon.metrics.config_reload_ok.set(1)
        self.daemon.metrics.config_reload_at.set(now.timestamp())

    def request(self) -> asyncio.Future[list[str]]:
        """Ask for a reload (SIGHUP, the API); the future gets the problems, [] when applied."""
        future: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()
        self.pending.append(future)
        self.daemon.wake.set()
        return future

    async def step(self) -> bool:
        """Serve every pending request with one reading of the file; True if there was one."""
        if not self.pending:
            return False
        waiting, self.pending = self.pending, []
        try:
            problems = await self.reload()
        except Exception as exc:  # the database went away while seeding new services
            log.exception("config reload failed while being applied")
            self.daemon.metrics.config_reload_ok.set(0)
            problems = [f"(reload): failed while being applied, reload again: {exc}"]
        for future in waiting:
            if not future.done():
                future.set_result(problems)
        return True

    def cancel(self) -> None:
        for future in self.pending:
            future.cancel()
        self.pending = []

    async def reload(self) -> list[str]:
        # Parsing, validating and rendering every template takes tens of milliseconds or
        # more: off the event loop, which times the probes.
        checked = await asyncio.to_thread(self._check)
        now = self.daemon.clock()  # after the check: new probes start from here
        if isinstance(checked, tuple):
            changes = await self._apply(*checked, now)
            self.loaded(now)
            log.info("config reloaded from %s: %s", self.path, changes.summary())
            return []
        problems = checked
        self.daemon.metrics.config_reload_ok.set(0)
        log.error("config reload refused, the running config stays (%d problems)", len(problems))
        for line in problems:
            log.error("config reload: %s", line)
        return problems

    def _check(self) -> tuple[Config, Environment | None] | list[str]:
        """The new config and its checked templates, or the problems."""
        if self.path is None:
            return ["(no config file): the daemon was started without one, nothing to reload"]
        try:
            new = load_config(self.path)
        except ConfigError as exc:
            return exc.problems
        templates, template_problems = checked_templates(new.templates_dir)
        problems = [
            *restart_only_changes(self.daemon.config, new),
            *secret_problems(new),
            *template_problems,
        ]
        return problems or (new, templates)

    async def _apply(self, new: Config, templates: Environment | None, now: datetime) -> Changes:
        daemon = self.daemon
        targets = targets_of(new)
        changes = changes_between(daemon.targets, targets)
        running, daemon.config = daemon.config, new
        daemon.targets = targets
        if daemon.prober is not None:
            probed = [t for t in targets if t.probed_here]
            preload_x509(t.service for t in probed)
            daemon.prober.retarget(probed)
        for target in changes.removed:
            daemon.metrics.forget_service(daemon.detector.labels(target))
        daemon.incidents.reconfigure(new, templates)
        daemon.metrics.incidents_open.clear()  # re-exported next round, removed platforms gone
        daemon.maintenance.config = new
        daemon.degraded.config = new
        daemon.maintenance.grace = new.maintenance.finish_grace
        if new.smtp != daemon.sender.relay:
            password = read_secret(new.smtp.secret) if new.smtp and new.smtp.secret else None
            daemon.sender.use_relay(new.smtp, password)
        if daemon.api_context is not None:
            daemon.api_context.config = new
        daemon.housekeeper.retention = new.retention
        daemon.housekeeper.settle = max(t.rules.probe_timeout + t.rules.probe_interval
                                        for t in targets)  # fmt: skip
        if (new.log_format, new.log_level) != (running.log_format, running.log_level):
            configure_logging(new.log_format, new.log_level)
        daemon.pace = Pace.of(targets)
        # Last, as the only step that waits (new services' history from the database): the
        # tracks are in place before it does, so should it fail, they start from nothing.
        await daemon.detector.retarget(targets, now, daemon.leadership.is_leader)
        daemon.wake.set()
        daemon.mail_wake.set()
        return changes

    def route(self) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The handler of ``POST /-/reload`` (admin): 200 when applied; 422 with one line per
        problem when refused, the running config staying."""

        @requires("admin")
        async def reload_config(request: web.Request) -> web.Response:
            try:
                problems = await asyncio.wait_for(self.request(), ANSWER_WITHIN)
            except TimeoutError:
                return problem(503, "Reload pending", "the daemon is busy; the reload will follow")
            if problems:
                return problem(422, "Config refused", "the running config stays", problems)
            return web.json_response({"status": "reloaded", "config": str(self.path)})

        return reload_config
