"""Applies incident decisions: reads the incident, calls incidents/decisions.py, and stores the new
state, its timeline and its rendered notifications in one transaction.

Service transitions are consumed with compare-and-set (``processed_at``) in the same
transaction that enqueues their mails, and every incident write is a compare-and-set on
its version: a crash or a second leader can neither lose a decision nor make it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from email.utils import parseaddr

from jinja2 import Environment
from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outagewatch.config import Config
from outagewatch.incidents import decisions as decide
from outagewatch.incidents import store as store
from outagewatch.incidents.actions import IncidentAction
from outagewatch.incidents.channel_messages import enqueue_channel_messages
from outagewatch.incidents.decisions import (
    Incident,
    IncidentDecision,
    Notice,
    PlatformInfo,
    ServiceInfo,
)
from outagewatch.incidents.mails import Audience, render, thread_of
from outagewatch.notify import outbox

log = logging.getLogger("outagewatch.incidents")
ACT_ATTEMPTS = 5


class IncidentWriteConflict(Exception):
    """Somebody else changed the incident first; the step is retried on fresh data."""


def audiences(config: Config, templates: Environment | None = None) -> dict[str, Audience]:
    domain = "outagewatch.invalid"
    if config.smtp is not None:
        domain = parseaddr(config.smtp.sender)[1].rpartition("@")[2] or domain
    found = {}
    for pid, platform in config.platforms.items():
        rules = config.platform_rules(pid)
        info = PlatformInfo(
            id=pid,
            name=platform.name,
            services={
                sid: ServiceInfo(label=s.display, severity=s.severity)
                for sid, s in platform.services.items()
            },
            update_every=rules.update_every,
            oncall_repeat=rules.oncall_repeat,
        )
        found[pid] = Audience(
            platform=info,
            zone=platform.zone,
            incident_lists=tuple(platform.lists.incident),
            informational_lists=tuple(platform.lists.informational),
            protocols={sid: s.protocol for sid, s in platform.services.items()},
            oncall_email=config.oncall.email if config.oncall else None,
            domain=domain,
            incident_pages=f"{config.web.public_url}/status/{pid}/incidents"
            if config.web.status_page and config.web.public_url
            else None,
            channels=config.channels_for(pid),
            console_url=config.web.public_url,
            templates=templates,
        )
    return found


Audiences = Mapping[str, Audience]


class IncidentEngine:
    """``audiences`` are the platforms' audiences, or where to read the current ones (the
    daemon's runtime, which a reload replaces): every decision reads them anew, so new lists,
    cadences and templates apply from the next mail on."""

    def __init__(self, engine: AsyncEngine, audiences: Audiences | Callable[[], Audiences]) -> None:
        self.engine = engine
        self._source: Callable[[], Audiences] = (
            audiences if callable(audiences) else (lambda: audiences)
        )
        self._seen: Audiences = {}
        # Platforms a reload removed: the last mail of their open incidents needs their lists.
        self.retired: dict[str, Audience] = {}
        # Every service label configured since the start, for the "no longer monitored" mail.
        self.labels: dict[tuple[str, str], str] = {}
        # Look for open incidents of services the config no longer has: after a reload, and
        # at the start (the daemon may have been restarted with such a config).
        self.check_unmonitored = True
        self._follow()

    @property
    def audiences(self) -> Audiences:
        return self._follow()

    def _follow(self) -> Audiences:
        """The current audiences; when they are new (a reload), what the old ones leave."""
        current = self._source()
        if current is not self._seen:
            self.retired = {
                pid: old for pid, old in {**self.retired, **self._seen}.items()
                if pid not in current
            }  # fmt: skip
            self.labels |= _labels(current)
            self._seen = current
            self.check_unmonitored = True
        return current

    async def step(self, now: datetime) -> bool:
        """Act on one service transition, or on a service no longer configured, or else on one
        incident that time made due."""
        try:
            return (
                await self._transition(now) or await self._unmonitored(now) or await self._due(now)
            )
        except IncidentWriteConflict:
            return True

    def _audience(self, platform: str) -> Audience | None:
        return self.audiences.get(platform) or self.retired.get(platform)

    async def _unmonitored(self, now: datetime) -> bool:
        """End, in its incident, the outage of a service that is no longer monitored."""
        self._follow()
        if not self.check_unmonitored:
            return False
        async with self.engine.connect() as conn:
            active = [i for i in await store.listing(conn) if i.state in decide.ACTIVE]
        for incident in active:
            audience = self._audience(incident.platform)
            current = self.audiences.get(incident.platform)
            kept = current.platform.services if current else {}
            gone = {
                s: self.labels.get((incident.platform, s), s)
                for s in incident.down
                if s not in kept
            }
            if not gone or audience is None or incident.id is None:
                continue  # (no audience: a restart after its platform was removed; nobody to tell)
            async with self.engine.begin() as conn:
                stored = await store.load(conn, incident.id)
                if stored is None:
                    raise IncidentWriteConflict
                decision = decide.services_unmonitored(
                    stored.incident, audience.platform, gone, now
                )
                await self._persist(conn, stored, decision, now)
            log.warning("incident %s: %s no longer monitored, ended without a recovery",
                        incident.ref, ", ".join(gone))  # fmt: skip
            return True
        self.check_unmonitored = False
        return False

    async def export_open(self, gauge: Gauge) -> None:
        """``outagewatch_incidents_open``: every platform and severity, zeros included, so
        that an alert on it sees a series before the first incident."""
        async with self.engine.connect() as conn:
            counts = await store.open_counts(conn)
        for platform in self.audiences:
            for severity in range(1, 5):
                gauge.labels(platform, str(severity)).set(counts.get((platform, severity), 0))

    async def _transition(self, now: datetime) -> bool:
        async with self.engine.begin() as conn:
            transition = await store.next_transition(conn)
            if transition is None:
                return False
            if not await store.mark_processed(conn, transition["id"], now):
                raise IncidentWriteConflict
            audience = self.audiences.get(transition["platform"])
            if audience is None or transition["service"] not in audience.platform.services:
                log.warning("ignoring a transition of %s/%s: no longer configured",
                            transition["platform"], transition["service"])  # fmt: skip
                return True
            info, service = audience.platform, transition["service"]
            stored = await store.active(conn, info.id)
            if transition["kind"] == "opened":
                if stored is None:
                    ref = await store.next_ref(conn, now)
                    decision = decide.open_for_outage(
                        info, service, transition["started_at"], ref, now
                    )
                    await self._create(conn, decision, now)
                    return True
                decision = decide.outage_joins(
                    stored.incident, info, service, transition["started_at"], now
                )
            else:
                if stored is None:
                    return True
                decision = decide.service_restored(
                    stored.incident, info, service, transition["at"], now
                )
            await self._persist(conn, stored, decision, now)
        return True

    async def _due(self, now: datetime) -> bool:
        async with self.engine.connect() as conn:
            ids = await store.due(conn, now)
        for incident_id in ids:
            async with self.engine.begin() as conn:
                stored = await store.load(conn, incident_id)
                audience = self._audience(stored.incident.platform) if stored else None
                if stored is None or audience is None:
                    continue
                decision = decide.due(stored.incident, audience.platform, now)
                if decision.notices:
                    await self._persist(conn, stored, decision, now)
                    return True
        return False

    async def rewrite_waiting_updates(self, now: datetime) -> int:
        """The relay answers again: every update still waiting is written anew before the
        backlog leaves (decisions.rewrite_waiting_update says why). Returns how many."""
        async with self.engine.connect() as conn:
            ids = await store.with_waiting_update(conn)
        rewritten = 0
        for incident_id in ids:
            try:
                async with self.engine.begin() as conn:
                    stored = await store.load(conn, incident_id)
                    if stored is None:
                        continue
                    platform = self.audiences[stored.incident.platform].platform
                    decision = decide.rewrite_waiting_update(stored.incident, platform, now)
                    if decision.notices:
                        await self._persist(conn, stored, decision, now)
                        rewritten += 1
            except IncidentWriteConflict:
                continue  # the engine changed it meanwhile: its own mail is as fresh
        return rewritten

    async def act(self, incident_id: int, action: IncidentAction, now: datetime) -> Incident:
        """An engineer's action (API): decided, stored and its mails enqueued at once. When
        the engine changed the incident meanwhile (a due update), decided again on fresh data."""
        for _ in range(ACT_ATTEMPTS):
            try:
                async with self.engine.begin() as conn:
                    stored = await store.load(conn, incident_id)
                    if stored is None:
                        raise KeyError(incident_id)
                    platform = self.audiences[stored.incident.platform].platform
                    decision = action(stored.incident, platform)
                    return await self._persist(conn, stored, decision, now)
            except IncidentWriteConflict:
                continue
        raise decide.IncidentConflict("the incident keeps changing; try again")

    async def open_reported(
        self, platform: str, build: Callable[[PlatformInfo, str], IncidentDecision], now: datetime
    ) -> Incident:
        async with self.engine.begin() as conn:
            if await store.active(conn, platform) is not None:
                raise decide.IncidentConflict(f"platform {platform} has an open incident already")
            decision = build(self.audiences[platform].platform, await store.next_ref(conn, now))
            return await self._create(conn, decision, now)

    async def _create(
        self, conn: AsyncConnection, decision: IncidentDecision, now: datetime
    ) -> Incident:
        incident_id = await store.insert_incident(conn, decision.incident)
        stored = await store.load(conn, incident_id)
        assert stored is not None
        opened = IncidentDecision(stored.incident, decision.notices, decision.timeline)
        await self._persist(conn, stored, opened, now)
        log.error("incident %s opened on %s (severity %d)", stored.incident.ref,
                  stored.incident.platform, stored.incident.severity)  # fmt: skip
        return stored.incident

    async def _persist(
        self, conn: AsyncConnection, stored: store.Stored, decision: IncidentDecision, now: datetime
    ) -> Incident:
        """Store the decision; the incident as stored (superseded updates renumbered)."""
        incident = decision.incident
        incident_id = incident.id
        assert incident_id is not None and incident_id == stored.incident.id
        if not await store.take(conn, stored):
            raise IncidentWriteConflict
        audience = self._audience(incident.platform)
        seq = stored.mails_sent
        for notice in decision.notices:
            assert audience is not None  # notices are decided only for a known platform
            incident = await self._enqueue(conn, incident, notice, audience, seq, now)
            seq += 1
            log.info("incident %s: %s queued", incident.ref, notice.kind)
        if audience is not None:
            # Paging and chat: their own rows, in this same transaction (notify/channels/).
            await enqueue_channel_messages(
                conn, stored.incident, incident, decision.notices, audience, now
            )
        if decision.withdrawn:
            await outbox.withdraw(conn, thread_of(incident), decision.withdrawn)
        if not await store.save(conn, stored, incident, len(decision.notices)):
            raise IncidentWriteConflict
        for kind, actor, _ in decision.timeline:
            log.info("incident %s: %s by %s", incident.ref, kind.replace("_", " "), actor)
        await store.add_timeline(conn, incident_id, decision.timeline, now)
        return incident

    async def _enqueue(
        self,
        conn: AsyncConnection,
        incident: Incident,
        notice: Notice,
        audience: Audience,
        seq: int,
        now: datetime,
    ) -> Incident:
        """Enqueue one notice's notifications, each superseding the pending rows of its
        stream and carrying their news on. Superseded updates give their numbers back, so
        that the list sees update 3 follow update 2."""
        drafts = render(incident, notice, audience, seq)
        supersessions = [await outbox.take_over(conn, draft) for draft in drafts]
        returned = max((taken.count("update") for taken in supersessions), default=0)
        incident = replace(incident, updates_sent=incident.updates_sent - returned)
        told = notice.told(now)
        for index, (draft, taken) in enumerate(zip(drafts, supersessions, strict=True)):
            news, stands_for = (*taken.news, *told), 1 + taken.stands_for
            final = draft
            if taken.superseded or returned:  # say what the superseded rows would have said
                carried = replace(
                    notice, news=news if taken.superseded else (), stands_for=stands_for
                )
                final = render(incident, carried, audience, seq)[index]
            final = replace(final, news=news, stands_for=stands_for)
            row = await outbox.enqueue(conn, final, now)
            await outbox.link_superseded(conn, taken.superseded, row)
            if taken.superseded:
                log.info("incident %s: %s supersedes %d undelivered %s", incident.ref,
                         notice.kind, len(taken.superseded), draft.channel)  # fmt: skip
        return incident


def _labels(found: Audiences) -> dict[tuple[str, str], str]:
    return {
        (pid, sid): info.label
        for pid, audience in found.items()
        for sid, info in audience.platform.services.items()
    }
