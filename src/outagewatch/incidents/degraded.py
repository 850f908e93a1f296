"""Telling of a degraded service: on-call always, the customer only where the platform opts in.

Degraded is below an outage (detection/judgement.py): no incident, no hourly cadence, no
pager. Each start and end of a degraded period is a stored transition ("*~degraded"); this
loop claims each once with compare-and-set, as the incident engine claims outages, and makes
its mails outbox rows in the same transaction: a crash neither loses nor repeats them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr

from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.config import Config
from outagewatch.config.services import HEALTH_PROTOCOLS
from outagewatch.incidents import store as store
from outagewatch.notify.channels.base import Message
from outagewatch.notify.outbox import AudienceName, Notification, enqueue
from outagewatch.store import samples as sample_store

LEVEL = "*~degraded"


@dataclass(frozen=True)
class Degradation:
    platform: str
    service: str
    started_at: datetime
    ended_at: datetime | None  # None: it has just begun


def notifications(
    config: Config, change: Degradation, domain: str, seen: Mapping[str, str] | None = None
) -> list[Notification]:
    """The mails one start or end of a degraded period calls for (pure); ``seen`` is what
    each vantage's latest sample said (a listing names its zone and delisting link)."""
    platform = config.platforms.get(change.platform)
    if platform is None or change.service not in platform.services:
        return []  # no longer configured
    label = platform.services[change.service].display
    kind = "degraded" if change.ended_at is None else "degraded_ended"
    ending = "degraded" if change.ended_at is None else "no longer degraded"
    since = f"{change.started_at:%Y-%m-%d %H:%M} UTC"
    if change.ended_at is None:
        facts = [f"Degraded performance since {since}: slower than usual, or a platform-health"
                 " check is failing. This is not an outage."]  # fmt: skip
    else:
        until = f"{change.ended_at:%Y-%m-%d %H:%M} UTC"
        facts = [f"Performance is back to normal since {until} (degraded from {since})."]
    thread = f"degraded:{change.platform}/{change.service}:{change.started_at:%Y%m%dT%H%M%S}"
    mid = f"degraded.{change.platform}.{change.service}.{change.started_at:%Y%m%d%H%M%S}.{kind}"
    made = []
    if config.oncall is not None:
        subject = f"[on-call] [{platform.name}] {label} — {ending}"
        lines = [*facts, "", f"Service: {change.platform}/{change.service}",
                 *(f"Latest from {v}: {detail}" for v, detail in sorted((seen or {}).items())),
                 "`outagewatch probe` names what is slow or failing."]  # fmt: skip
        to = [config.oncall.email]
        made.append(_mail(thread, kind, "oncall", to, subject, lines, f"<{mid}.oncall@{domain}>"))
    # A listing or a broken DNS record is on-call's to mend; it never mails customers.
    health = platform.services[change.service].protocol in HEALTH_PROTOCOLS
    if platform.announce_degraded and not health:
        subject = f"[{platform.name}] Degraded performance: {label} — {ending}"
        lines = [f"{platform.name}: {label}", "", *facts]
        to = list(platform.lists.informational)
        made.append(_mail(thread, kind, "customer", to, subject, lines, f"<{mid}@{domain}>"))
    made += _chat(
        config,
        change,
        kind,
        label,
        [*facts, *(f"Latest from {v}: {d}" for v, d in sorted((seen or {}).items()))],
        domain,
    )
    return made


def _chat(
    config: Config, change: Degradation, kind: str, label: str, lines: list[str], domain: str
) -> list[Notification]:
    """One message to each chat channel routed to the platform whose ``min_severity``
    covers the service's severity; a pager is never woken for a degraded service."""
    platform = config.platforms[change.platform]
    severity = platform.services[change.service].severity
    ending = "degraded" if kind == "degraded" else "no longer degraded"
    message = Message(
        id="", event=kind, key=f"{change.platform}/{change.service}",  # type: ignore[arg-type]
        title=f"[{platform.name}] {label} — {ending}", text="\n".join(lines), severity=severity,
        platform=platform.name, services=(label,), created_at=change.ended_at or change.started_at,
    )  # fmt: skip
    stamp = f"{change.started_at:%Y%m%d%H%M%S}"
    found = []
    for name, least in config.channels_for(change.platform).items():
        channel = config.all_channels.get(name)
        if channel is None or channel.paging or severity > least:
            continue
        found.append(Notification(
            thread=f"degraded:{change.platform}/{change.service}:{name}", incident_id=None,
            kind=kind, audience="oncall", channel=name, recipients=(name,),
            subject=message.title, body_text=message.text, details=message.details(),
            message_id=f"<degraded.{change.platform}.{change.service}.{stamp}.{kind}.{name}@{domain}>",
        ))  # fmt: skip
    return found


def _mail(
    thread: str,
    kind: str,
    audience: AudienceName,
    to: list[str],
    subject: str,
    lines: list[str],
    mid: str,
) -> Notification:
    return Notification(
        thread=thread, incident_id=None, kind=kind, audience=audience, channel="mail",
        recipients=tuple(to), subject=subject, body_text="\n".join(lines) + "\n", message_id=mid,
    )  # fmt: skip


class DegradedEngine:
    def __init__(self, engine: AsyncEngine, config: Config | Callable[[], Config]) -> None:
        self.engine = engine
        self._config: Callable[[], Config] = config if callable(config) else (lambda: config)

    @property
    def config(self) -> Config:
        """The current config: a reload's is read at the next step."""
        return self._config()

    @property
    def domain(self) -> str:
        smtp = self.config.smtp
        found = parseaddr(smtp.sender)[1].rpartition("@")[2] if smtp is not None else ""
        return found or "outagewatch.invalid"

    async def step(self, now: datetime) -> bool:
        """Claim one start or end of a degraded period and enqueue its mails; True when
        there was one."""
        async with self.engine.begin() as conn:
            row = await store.next_transition(conn, LEVEL)
            if row is None:
                return False
            if not await store.mark_processed(conn, row["id"], now):
                return True  # another leader took it
            ended = row["at"] if row["kind"] == "restored" else None
            change = Degradation(row["platform"], row["service"], row["started_at"], ended)
            latest = await sample_store.latest_samples(conn, [(change.platform, change.service)])
            seen = {v: str(sample["detail"]) for (_, _, v), sample in latest.items()}
            for notification in notifications(self.config, change, self.domain, seen):
                await enqueue(conn, notification, now)
        return True
