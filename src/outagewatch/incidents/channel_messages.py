"""Channel messages become outbox rows, in the transaction that stores the decision.

Each channel of an incident is a thread of its own (``incident:<id>:<channel>``): the
outbox delivers a thread strictly in order, so a resolve never overtakes its trigger, and
a slow chat never holds up the pager. The pager's dedup key (the incident reference) is
recorded in ``channel_alerts`` when the trigger is enqueued: a restart, or an inbound
acknowledgement, finds it there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.incidents.channel_routing import incident_events, messages_for_channel
from outagewatch.incidents.decisions import Incident, Notice
from outagewatch.incidents.mails import Audience
from outagewatch.notify import outbox
from outagewatch.notify.channels.base import Event, Message
from outagewatch.store import channel_alerts
from outagewatch.store.tables import notifications

ENDINGS = {"opened": "detected", "acknowledged": "acknowledged", "update": "update",
           "restored": "restored", "test": "test"}  # fmt: skip


async def enqueue_channel_messages(
    conn: AsyncConnection,
    before: Incident | None,
    after: Incident,
    notices: Sequence[Notice],
    audience: Audience,
    now: datetime,
) -> int:
    """Enqueue what each of the platform's channels must hear; returns how many rows."""
    assert after.id is not None
    events = incident_events(before, after, notices)
    if not events or not audience.channels:
        return 0
    heard = await channel_alerts.states(conn, after.id)
    count = 0
    for channel, min_severity in audience.channels.items():
        told = messages_for_channel(heard.get(channel, "new"), events, after, min_severity)
        for event, notice in told:
            message = compose(after, event, notice, audience, now)
            await _enqueue(conn, channel, after.id, message, audience.domain, now)
            if event == "opened":
                await channel_alerts.opened(conn, channel, after.id, after.ref, now)
            elif event == "restored":
                await channel_alerts.closed(conn, channel, after.id, now)
            count += 1
    return count


async def _enqueue(
    conn: AsyncConnection, channel: str, incident_id: int, message: Message, domain: str,
    now: datetime,
) -> None:  # fmt: skip
    thread = f"incident:{incident_id}:{channel}"
    seq = await conn.scalar(
        select(func.count()).select_from(notifications).where(notifications.c.thread == thread)
    )
    notification = outbox.Notification(
        thread=thread,
        incident_id=incident_id,
        kind=message.event,
        audience="oncall",
        channel=channel,
        recipients=(channel,),
        subject=message.title,
        body_text=message.text,
        message_id=f"<{message.key}.{channel}.{seq}.{message.event}@{domain}>",
        details=message.details(),
    )
    await outbox.enqueue(conn, notification, now)


def title(incident: Incident, event: Event, audience: Audience) -> str:
    platform = audience.platform
    labels = ", ".join(
        platform.services[a.service].label if a.service in platform.services else a.service
        for a in incident.services
    )
    ending = ENDINGS[event]
    if event == "update":
        ending = f"update {incident.updates_sent}"
    elif event == "acknowledged" and incident.acknowledged_by:
        ending = f"acknowledged by {incident.acknowledged_by}"
    return f"[{platform.name}] [Sev {incident.severity}] Outage: {labels} — {ending}"


def compose(
    incident: Incident, event: Event, notice: Notice | None, audience: Audience, now: datetime
) -> Message:
    """The message of one event: a title like the mail's subject, a few lines of text."""
    platform = audience.platform
    down = [platform.services[s].label if s in platform.services else s for s in incident.down]
    lines: list[str] = []
    if event == "opened":
        lines.append(f"Down since {_utc(incident.started_at)}: {', '.join(down) or '-'}.")
        if incident.user_impact:
            lines.append(f"User impact: {incident.user_impact}")
    elif event == "acknowledged":
        lines.append(f"Acknowledged by {incident.acknowledged_by} at "
                     f"{_utc(incident.acknowledged_at or now)}.")  # fmt: skip
    elif event == "update":
        if notice is not None and notice.message:
            lines.append(notice.message)
        lines += list(notice.changes if notice is not None else ())
        lines.append(f"Still down: {', '.join(down) or 'none'}.")
    elif event == "restored":
        restored = incident.restored_at or now
        minutes = int((restored - incident.started_at) / timedelta(minutes=1))
        lines.append(f"Restored at {_utc(restored)} after {minutes} min.")
        if notice is not None and notice.message:
            lines.append(notice.message)
    if incident.etr is not None and event in ("opened", "update"):
        lines.append(f"Expected time to restoration: {_utc(incident.etr)}.")
    link = None
    if audience.console_url:  # the console's incident page (web/console_routes.py)
        link = f"{audience.console_url.rstrip('/')}/console/incidents/{incident.ref}"
    return Message(
        id="",  # the row's Message-ID, known once it is enqueued
        event=event,
        key=incident.ref,
        title=title(incident, event, audience),
        text="\n".join(lines),
        severity=incident.severity,
        platform=platform.name,
        services=tuple(
            platform.services[a.service].label if a.service in platform.services else a.service
            for a in incident.services
        ),
        created_at=now,
        actor=incident.acknowledged_by if event == "acknowledged" else None,
        link=link,
    )


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"
