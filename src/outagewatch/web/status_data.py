"""Everything the public status page of one platform shows, read once and shaped for the
templates. Only what the customers were already told, or can see for themselves, goes in:
service labels (never hosts), states, measured availability, the customer mails as sent,
maintenance windows and their expected impact (never notes, actors or probe details)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outagewatch.config import Config
from outagewatch.incidents.decisions import ACTIVE, Incident
from outagewatch.maintenance import store as maintenance_store
from outagewatch.maintenance.decisions import Maintenance
from outagewatch.states import ServiceStates
from outagewatch.store import samples as sample_store
from outagewatch.web import status_store as store
from outagewatch.web.bars import HOUR, Day, Interval, daily_bars, group_bars
from outagewatch.web.states import StateName, service_states

DAYS = 90
# Above this many services a page shows one strip of bars per protocol and a state per
# service: 2,000 strips of 90 bars would be 22 MB of HTML.
GROUP_ABOVE = 40
SEVERITY = ["outage", "degraded", "maintenance", "no data", "operational"]


def when(moment: datetime | None, zone: ZoneInfo) -> str:
    """A time in UTC and in the platform's zone, as the mails give it."""
    if moment is None:
        return "-"
    local = moment.astimezone(zone)
    return f"{moment:%Y-%m-%d %H:%M} UTC ({local:%H:%M %Z})"


@dataclass(frozen=True)
class Mail:
    kind: str
    subject: str
    body: str
    sent_at: datetime


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    labels: list[str]
    mails: list[Mail]  # newest first, as a timeline reads

    @property
    def title(self) -> str:
        return f"Outage: {', '.join(self.labels)}"

    @property
    def updated_at(self) -> datetime:
        return self.mails[0].sent_at if self.mails else self.incident.opened_at


@dataclass(frozen=True)
class ServiceView:
    id: str
    label: str
    state: str
    bars: list[Day]

    @property
    def uptime(self) -> str:
        measured = sum((d.measured for d in self.bars), timedelta(0))
        down = sum((d.down for d in self.bars), timedelta(0))
        if measured <= timedelta(0):
            return "no data"
        return f"{max(0.0, 100 * (1 - down / measured)):.2f} %"


@dataclass(frozen=True)
class PlatformView:
    id: str
    name: str
    zone: ZoneInfo
    now: datetime
    services: list[ServiceView]  # without bars when ``groups`` has them
    groups: list[ServiceView]
    open_incidents: list[IncidentView]
    past_incidents: list[IncidentView]
    maintenances: list[Maintenance]  # scheduled and running
    history: list[Maintenance]  # every window of the last 90 days, for the feeds
    # Each service's degraded periods of the last 90 days (an open end: still degraded).
    degradations: dict[str, list[Interval]] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        return summary({s.state for s in self.services})

    def when(self, moment: datetime | None) -> str:
        return when(moment, self.zone)


def worst(states: Iterable[str]) -> str:
    return min(states, key=SEVERITY.index, default="no data")


def summary(states: Iterable[str]) -> str:
    states = set(states)
    for state, text in (
        ("outage", "Outage"),
        ("degraded", "Degraded performance"),
        ("maintenance", "Under maintenance"),
    ):
        if state in states:
            return text
    if states == {"operational"}:
        return "All services operational"
    return "Some services have no data"


class RollupCache:
    """The rolled-up hours of each platform, read again only when the roll-ups changed.

    Reading 90 days x 4 services of roll-ups costs more than everything else the page does;
    they change once an hour, and a cheap aggregate tells when."""

    def __init__(self) -> None:
        self._by_platform: dict[str, tuple[Any, dict[str, set[datetime]]]] = {}

    async def hours(
        self, conn: AsyncConnection, pid: str, since: datetime
    ) -> tuple[dict[str, set[datetime]], datetime | None]:
        since = since.replace(hour=0, minute=0, second=0, microsecond=0)  # stable for a day
        signature = (since, *await store.rollup_signature(conn, pid, since))
        cached = self._by_platform.get(pid)
        if cached is None or cached[0] != signature:
            cached = (signature, await store.rolled_hours(conn, pid, since))
            self._by_platform[pid] = cached
        return cached[1], signature[1]


@dataclass(frozen=True)
class PlatformFacts:
    """What the page of one platform reads from the store, before it is shaped."""

    hours: dict[str, set[datetime]]
    tails: dict[str, datetime]
    outages: dict[str, list[Interval]]
    degradations: dict[str, list[Interval]]
    incidents: list[Incident]
    mails: dict[int, list[dict[str, Any]]]
    windows: list[Maintenance]
    states: dict[str, StateName]


async def read_platform(
    conn: AsyncConnection,
    config: Config,
    judged: ServiceStates | None,
    pid: str,
    now: datetime,
    rollups: RollupCache,
) -> PlatformFacts:
    """The reads of one platform's page: a fixed number of statements, each of this
    platform's rows only."""
    platform = config.platforms[pid]
    since = now - timedelta(days=DAYS + 1)
    hours, newest = await rollups.hours(conn, pid, since)
    tails = await store.raw_tails(conn, pid, newest + HOUR if newest else since)
    outages = await store.outages(conn, pid, since)
    degradations = await store.outages(conn, pid, since, level="*~degraded")
    incidents = await store.incidents_since(conn, pid, since)
    mails = await store.customer_mails(conn, [i.id for i in incidents if i.id is not None])
    windows = [w for w in await maintenance_store.listing(conn, pid) if w.ends_at >= since]
    latest = await sample_store.latest_samples(conn, [(pid, s) for s in platform.services])
    active = [i for i in incidents if i.state in ACTIVE]
    states = {
        s.service: s.state
        for s in service_states(config, judged, latest, active, windows, now, [pid])
    }
    return PlatformFacts(hours, tails, outages, degradations, incidents, mails, windows, states)


def shape_platform(config: Config, pid: str, now: datetime, facts: PlatformFacts) -> PlatformView:
    """The view of the page from its facts: pure, and run off the event loop (the bars of a
    platform with hundreds of services take a while)."""
    platform = config.platforms[pid]
    zone = platform.zone
    incidents = facts.incidents
    labels = {sid: s.display for sid, s in platform.services.items()}
    grouped = len(labels) > GROUP_ABOVE
    services = [
        ServiceView(
            id=sid, label=label, state=facts.states[sid],
            bars=[] if grouped else daily_bars(
                days=DAYS, now=now, zone=zone, hours=facts.hours.get(sid, ()),
                tail_from=facts.tails.get(sid), outages=facts.outages.get(sid, []),
                incidents=[(a.started_at, a.restored_at) for i in incidents
                           for a in i.services if a.service == sid],
                degradations=facts.degradations.get(sid, []),
            ),
        )
        for sid, label in labels.items()
    ]  # fmt: skip
    views = [
        IncidentView(
            incident=i,
            labels=[labels.get(a.service, a.service) for a in i.services],
            mails=[Mail(m["kind"], m["subject"], m["body_text"], m["sent_at"])
                   for m in reversed(facts.mails.get(i.id or 0, []))],
        )
        for i in incidents
    ]  # fmt: skip
    windows = facts.windows
    return PlatformView(
        id=pid, name=platform.name, zone=zone, now=now, services=services,
        groups=groups_of(config, pid, now, facts, services) if grouped else [],
        open_incidents=[v for v in views if v.incident.state in ACTIVE],
        past_incidents=[v for v in views if v.incident.state not in ACTIVE],
        maintenances=sorted(
            (w for w in windows if w.state in ("scheduled", "in_progress")),
            key=lambda w: w.starts_at,
        ),
        history=windows, degradations=facts.degradations,
    )  # fmt: skip


def groups_of(
    config: Config, pid: str, now: datetime, facts: PlatformFacts, services: list[ServiceView]
) -> list[ServiceView]:
    """One strip of bars per protocol, for a platform too large for a strip per service."""
    platform = config.platforms[pid]
    members: dict[str, list[ServiceView]] = {}
    for view in services:
        members.setdefault(platform.services[view.id].protocol, []).append(view)
    groups = []
    for protocol, views in sorted(members.items()):
        ids = {v.id for v in views}
        hours = Counter(h for sid in ids for h in facts.hours.get(sid, ()))
        bars = group_bars(
            days=DAYS, now=now, zone=platform.zone, hours=hours.items(),
            tails=[facts.tails[s] for s in ids if s in facts.tails],
            outages=[o for s in ids for o in facts.outages.get(s, [])],
            degradations=[d for s in ids for d in facts.degradations.get(s, [])],
            incidents=[(i.started_at, i.restored_at) for i in facts.incidents
                       if any(a.service in ids for a in i.services)],
            members=len(ids),
        )  # fmt: skip
        label = f"{protocol.upper()} ({len(views)} services)"
        groups.append(
            ServiceView(
                id=f"group-{protocol}", label=label, state=worst(v.state for v in views), bars=bars
            )
        )
    return groups


async def load_platform(
    engine: AsyncEngine,
    config: Config,
    judged: ServiceStates | None,
    pid: str,
    now: datetime,
    rollups: RollupCache,
) -> PlatformView:
    async with engine.connect() as conn:
        facts = await read_platform(conn, config, judged, pid, now, rollups)
    return shape_platform(config, pid, now, facts)
