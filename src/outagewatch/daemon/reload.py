"""Re-reading the config on SIGHUP and ``POST /-/reload``, as Prometheus does.

A reload reads and validates the file, builds a whole new runtime from it
(daemon/runtime.py), and swaps it in between two detection rounds. Nothing here knows any
setting: every part reads the current runtime, so all of the new config applies at once,
without a restart and without losing state. Judgements of kept services stay (their new
rules apply from now on), new services start probing within one interval, removed ones stop
and their open outages are ended in their incident as "no longer monitored"; the next mail
goes through the new relay to the new lists, with the new templates. A file that does not
load, or that changes what only a restart can change, is refused, one log line per problem,
and the running runtime stays.
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

from outagewatch.api.auth import requires
from outagewatch.api.problems import problem
from outagewatch.config import Config, ConfigError, load_config
from outagewatch.config.targets import Target
from outagewatch.daemon.runtime import Current, Runtime, build_runtime
from outagewatch.metrics import Metrics

log = logging.getLogger("outagewatch.reload")
ANSWER_WITHIN = 60.0  # seconds: the reload waits for the current detection round to end

# What a running daemon cannot change in place: the socket it listens on, the database its
# state lives in and the lock that makes it the leader there, the name its samples are
# written under, and the shape of the metric series it has already exported.
RESTART_ONLY: dict[str, Callable[[Config], object]] = {
    "api.listen": lambda c: c.api.listen,
    "database": lambda c: c.database,
    "leader_takeover": lambda c: c.leader_takeover,
    "vantage": lambda c: c.vantage,
    "metrics.phases": lambda c: c.metrics.phases,
    "probe_workers": lambda c: c.probe_workers,
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
    """What a reload needs of the running daemon (daemon/process.py)."""

    current: Current
    metrics: Metrics
    wake: asyncio.Event
    clock: Callable[[], datetime]

    async def adopt(self, new: Runtime, now: datetime) -> Runtime: ...


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


def sections_changed(running: Config, new: Config) -> list[str]:
    """The top-level sections the new file changes, by name (values may hold secrets)."""
    return [name for name in type(new).model_fields if getattr(running, name) != getattr(new, name)]


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
        # Parsing, validating, reading the secrets and rendering every template takes tens
        # of milliseconds or more: off the event loop, which times the probes.
        built = await asyncio.to_thread(self._build)
        if isinstance(built, list):
            self.daemon.metrics.config_reload_ok.set(0)
            log.error("config reload refused, the running config stays (%d problems)", len(built))
            for line in built:
                log.error("config reload: %s", line)
            return built
        now = self.daemon.clock()  # after the build: new probes start from here
        old = await self.daemon.adopt(built, now)
        self.loaded(now)
        changes = changes_between(old.targets, built.targets)
        sections = ", ".join(sections_changed(old.config, built.config)) or "none"
        log.info("config reloaded from %s: %s; sections changed: %s", self.path,
                 changes.summary(), sections)  # fmt: skip
        return []

    def _build(self) -> Runtime | list[str]:
        """The runtime of the file, or the problems."""
        if self.path is None:
            return ["(no config file): the daemon was started without one, nothing to reload"]
        try:
            new = load_config(self.path)
        except ConfigError as exc:
            return exc.problems
        problems = restart_only_changes(self.daemon.current().config, new)
        try:
            runtime = build_runtime(new)
        except ConfigError as exc:
            return [*problems, *exc.problems]
        return problems or runtime

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
