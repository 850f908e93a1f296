"""Applies maintenance decisions: stores the window and enqueues its mails in one
transaction, starts and auto-finishes windows on time, and hands detection the windows."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outagewatch.config import Config
from outagewatch.incidents.mails import Audience
from outagewatch.maintenance import decisions as decide
from outagewatch.maintenance import store as store
from outagewatch.maintenance.decisions import Maintenance, MaintenanceDecision, Window
from outagewatch.maintenance.mails import render_maintenance
from outagewatch.notify.outbox import enqueue
from outagewatch.store import samples as sample_store

log = logging.getLogger("outagewatch.maintenance")
MaintenanceAction = Callable[[Maintenance], MaintenanceDecision]


class MaintenanceWriteConflict(Exception):
    """Another writer changed the window first; the step is tried again."""


Audiences = Mapping[str, Audience]


class MaintenanceEngine:
    """``config`` and ``audiences`` are fixed, or where to read the current ones (the daemon's
    runtime, which a reload replaces): each step reads them anew."""

    def __init__(
        self,
        engine: AsyncEngine,
        config: Config | Callable[[], Config],
        audiences: Audiences | Callable[[], Audiences],
    ) -> None:
        self.engine = engine
        self._config: Callable[[], Config] = config if callable(config) else (lambda: config)
        self._audiences: Callable[[], Audiences] = (
            audiences if callable(audiences) else (lambda: audiences)
        )
        self._lookback: tuple[Config, timedelta] | None = None

    @property
    def config(self) -> Config:
        return self._config()

    @property
    def audiences(self) -> Audiences:
        return self._audiences()

    @property
    def grace(self) -> timedelta:
        """A window nobody finished is finished by outagewatch this long after its end."""
        return self.config.maintenance.finish_grace

    async def announce(
        self, build: Callable[[str], MaintenanceDecision], now: datetime
    ) -> Maintenance:
        async with self.engine.begin() as conn:
            decision = build(await store.next_ref(conn, now))
            window_id = await store.insert_window(conn, decision.maintenance)
            stored = await store.load(conn, window_id)
            assert stored is not None
            await self._persist(
                conn, stored, MaintenanceDecision(stored.maintenance, decision.notices), now
            )
            return stored.maintenance

    async def act(self, window_id: int, action: MaintenanceAction, now: datetime) -> Maintenance:
        async with self.engine.begin() as conn:
            stored = await store.load(conn, window_id)
            if stored is None:
                raise KeyError(window_id)
            decision = action(stored.maintenance)
            await self._persist(conn, stored, decision, now)
            return decision.maintenance

    async def step(self, now: datetime) -> bool:
        """Start one window whose time has come, or finish one nobody finished."""
        async with self.engine.connect() as conn:
            windows = await store.open_windows(conn)
        for window in windows:
            assert window.id is not None
            healthy = None
            if decide.needs_judgement(window, now, self.grace):
                healthy = await self._healthy(window)
            if decide.due(window, now, self.grace, healthy).notices:
                # Decided again on the row as read inside the transaction; a concurrent
                # writer makes the compare-and-set fail and the next step look again.
                judged = functools.partial(decide.due, now=now, grace=self.grace, healthy=healthy)
                with contextlib.suppress(MaintenanceWriteConflict):
                    await self.act(window.id, judged, now)
                return True
        return False

    async def _healthy(self, window: Maintenance) -> bool:
        """Every affected service healthy over its last ``restore_after`` samples."""
        async with self.engine.connect() as conn:
            for service in window.services:
                needed = self.config.rules_for(window.platform, service).restore_after
                flags = await sample_store.last_bad_flags(conn, window.platform, service, needed)
                if len(flags) < needed or any(flags):
                    return False
        return True

    async def windows(self, now: datetime) -> dict[tuple[str, str], list[Window]]:
        """The windows detection must know, per service: open ones and recently ended ones
        (a run that began inside a window must see where it ended)."""
        async with self.engine.connect() as conn:
            found = await store.relevant_to_detection(conn, now, self.lookback())
        per_service: dict[tuple[str, str], list[Window]] = {}
        for window in found:
            span = window.window()
            if span is not None:
                for service in window.services:
                    per_service.setdefault((window.platform, service), []).append(span)
        return per_service

    def lookback(self) -> timedelta:
        """How long ago an ended window still matters to detection: twice the longest outage
        rule, and an hour. Worked out once per config (a reload replaces ``config``): over
        10,000 services it held the main loop for 39 ms every round."""
        config = self.config
        if self._lookback is None or self._lookback[0] is not config:
            longest = max(
                (config.rules_for(p, s).outage_after for p, pl in config.platforms.items()
                 for s in pl.services),
                default=timedelta(0),
            )  # fmt: skip
            self._lookback = (config, 2 * longest + timedelta(hours=1))
        return self._lookback[1]

    async def _persist(
        self,
        conn: AsyncConnection,
        stored: store.Stored,
        decision: MaintenanceDecision,
        now: datetime,
    ) -> None:
        window = decision.maintenance
        audience = self.audiences[window.platform]
        seq = stored.mails_sent
        for notice in decision.notices:
            for notification in render_maintenance(window, notice, audience, seq):
                await enqueue(conn, notification, now)
            seq += 1
            log.warning("maintenance %s on %s: %s", window.ref, window.platform, notice.kind)
        if not await store.save(conn, stored, window, len(decision.notices)):
            raise MaintenanceWriteConflict
