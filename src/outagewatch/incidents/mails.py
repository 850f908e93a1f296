"""Turning an incident notice into the mails it means: subject, body, recipients, thread.

Subjects are one line ending with the mail's kind; every mail of an incident shares one
thread; times are given in UTC and in the platform's own zone. All formal text is English.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from jinja2 import Environment

from outagewatch.incidents.decisions import Incident, Notice, PlatformInfo
from outagewatch.notify.html import to_html
from outagewatch.notify.outbox import Notification
from outagewatch.notify.templates import shipped

SEVERITY_TEXT = {
    1: "complete outage, all users affected, no workaround",
    2: "a business-critical component cannot be used by most users",
    3: "partial loss of non-critical functionality",
    4: "informational",
}
DEFAULT_IMPACT = {
    "http": "users cannot use webmail, or it answers very slowly",
    "smtp": "users cannot send mail, or sending is very slow",
    "imap": "users cannot read their mail in their mail programs, or it is very slow",
    "pop3": "users cannot fetch their mail with POP3 programs, or it is very slow",
    "roundtrip": "mail sent to users arrives late or not at all",
    "dnsbl": "mail sent by users may be refused by other providers",
    "mailauth": "mail sent by users may be rejected or filed as spam by other providers",
}


@dataclass(frozen=True)
class Audience:
    """Where a platform's incident mail goes, and how it is signed and threaded."""

    platform: PlatformInfo
    zone: ZoneInfo
    incident_lists: tuple[str, ...]
    protocols: dict[str, str]  # service -> protocol, for the default user impact
    oncall_email: str | None
    domain: str  # of the sender address, for Message-IDs
    signature: str = "OX Cloud Operations"
    informational_lists: tuple[str, ...] = ()
    # The public status page's incident pages (``…/status/eu-de-1/incidents``), when it has one.
    incident_pages: str | None = None
    # Paging and chat channels told of this platform's incidents (notify/channels/), each
    # with the least severe severity it hears of; never customers: they are only mailed.
    channels: Mapping[str, int] = field(default_factory=dict)
    console_url: str | None = None  # web.public_url: chat messages link to the incident
    # The mail templates with the operator's overrides, as checked (daemon/template_check.py);
    # None: the shipped ones.
    templates: Environment | None = None

    @property
    def jinja(self) -> Environment:
        return self.templates or shipped()

    def when(self, moment: datetime | None) -> str:
        """A time in UTC and in the platform's own zone."""
        if moment is None:
            return "-"
        local = moment.astimezone(self.zone)
        return f"{moment:%Y-%m-%d %H:%M} UTC ({local:%Y-%m-%d %H:%M %Z}, {self.zone.key})"


def thread_of(incident: Incident) -> str:
    """All notifications of an incident share one thread (delivered in order)."""
    return f"incident:{incident.id}"


def render(incident: Incident, notice: Notice, audience: Audience, seq: int) -> list[Notification]:
    """The notifications for one notice; ``seq`` numbers the incident's mails (Message-IDs)."""
    assert incident.id is not None
    oncall = notice.kind in ("oncall", "oncall_repeat")
    template = "oncall.txt.j2" if oncall else f"{notice.kind}.txt.j2"
    body = audience.jinja.get_template(template).render(_context(incident, notice, audience))
    subject = _subject(incident, notice, audience.platform)
    message_id = f"<{incident.ref}.{seq}.{notice.kind}@{audience.domain}>"
    make = functools.partial(
        Notification,
        thread=thread_of(incident),
        incident_id=incident.id,
        kind=notice.kind,
        subject=subject,
        body_text=body,
        body_html=to_html(body),
    )
    if not oncall:
        root = f"<{incident.ref}.0.detected@{audience.domain}>"
        reply = None if message_id == root else root
        return [
            make(
                audience="customer",
                channel="mail",
                recipients=audience.incident_lists,
                message_id=message_id,
                in_reply_to=reply,
                references=reply,
            )
        ]
    if not audience.oncall_email:
        return []
    # Paging and chat channels get their own rows (incidents/channel_messages.py).
    return [
        make(audience="oncall", channel="mail", recipients=(audience.oncall_email,),
             message_id=message_id)
    ]  # fmt: skip


# A subject names the affected services up to this many characters, then counts the rest:
# an outage of a hundred services must still make a one-line subject under RFC 5322's 998
# characters (the outbox refuses a longer one, and the mail would never be queued). The body
# lists them all.
SUBJECT_SERVICES = 120


def services_phrase(labels: list[str]) -> str:
    """``IMAP, SMTP`` or, past SUBJECT_SERVICES characters, ``IMAP, SMTP and 98 more``."""
    shown: list[str] = []
    for index, label in enumerate(labels):
        rest = len(labels) - index
        if shown and len(", ".join([*shown, label])) > SUBJECT_SERVICES and rest > 1:
            return f"{', '.join(shown)} and {rest} more"
        shown.append(label)
    return ", ".join(shown)


def _subject(incident: Incident, notice: Notice, platform: PlatformInfo) -> str:
    labels = services_phrase([label_of(platform, a.service) for a in incident.services])
    kind = {
        "detected": "detected",
        "update": f"update {incident.updates_sent}",
        "restored": "restored",
        "oncall": "detected",
        "oncall_repeat": "not acknowledged",
    }[notice.kind]
    if notice.kind == "oncall_repeat" and notice.stands_for > 1:
        kind += f" ({notice.stands_for} reminders)"
    prefix = "[on-call] " if notice.kind.startswith("oncall") else ""
    return f"{prefix}[{platform.name}] [Sev {incident.severity}] Outage: {labels} — {kind}"


def label_of(platform: PlatformInfo, service: str) -> str:
    info = platform.services.get(service)
    return info.label if info else service


def _context(incident: Incident, notice: Notice, audience: Audience) -> dict[str, object]:
    platform = audience.platform
    when = audience.when

    labels = [label_of(platform, a.service) for a in incident.services]
    impacts = sorted(
        {DEFAULT_IMPACT.get(audience.protocols.get(a.service, ""), "") for a in incident.services}
        - {""}
    )
    return {
        "incident": incident,
        "notice": notice,
        "platform": platform,
        "when": when,
        "affected": ", ".join(labels),
        "count": len(labels),
        "still_down": ", ".join(label_of(platform, s) for s in incident.down) or "none",
        "severity_text": SEVERITY_TEXT.get(incident.severity, ""),
        "impact": incident.user_impact
        or ("; ".join(impacts).capitalize() + " (first assessment)."),
        "duration": _duration(incident),
        "signature": audience.signature,
        "incident_url": f"{audience.incident_pages}/{incident.ref}"
        if audience.incident_pages
        else None,
    }


def _duration(incident: Incident) -> str:
    if incident.restored_at is None:
        return "-"
    minutes = int((incident.restored_at - incident.started_at) / timedelta(minutes=1))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
