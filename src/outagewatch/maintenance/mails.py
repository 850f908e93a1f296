"""Maintenance mails: announced, started, finished, extended, cancelled, on the platform's
informational lists, rendered from the same templates and signed as the incident mails."""

from __future__ import annotations

import functools

from outagewatch.incidents.mails import Audience, label_of, services_phrase
from outagewatch.maintenance.decisions import Maintenance
from outagewatch.maintenance.decisions import Notice as MaintenanceNotice
from outagewatch.notify.html import to_html
from outagewatch.notify.outbox import Notification


def render_maintenance(
    window: Maintenance, notice: MaintenanceNotice, audience: Audience, seq: int
) -> list[Notification]:
    """Maintenance mails go to the informational lists; a window finished by outagewatch
    itself (nobody gave the outcome) also tells on-call."""
    assert window.id is not None
    platform = audience.platform
    labels = ", ".join(label_of(platform, s) for s in window.services)
    what = "Emergency maintenance" if window.kind == "emergency" else "Maintenance"
    kind = "finished" if notice.kind == "auto_finished" else notice.kind
    phrase = services_phrase([label_of(platform, s) for s in window.services])
    subject = f"[{platform.name}] {what}: {phrase} — maintenance {kind}"
    body = audience.jinja.get_template("maintenance.txt.j2").render(
        window=window, notice=notice, platform=platform, when=audience.when, affected=labels,
        signature=audience.signature,
    )  # fmt: skip
    root = f"<{window.ref}.0.announced@{audience.domain}>"
    message_id = f"<{window.ref}.{seq}.{notice.kind}@{audience.domain}>"
    reply = None if message_id == root else root
    make = functools.partial(
        Notification,
        thread=f"maintenance:{window.id}",
        incident_id=None,
        kind=f"maintenance_{notice.kind}",
        body_text=body,
        body_html=to_html(body),
        message_id=message_id,
    )
    if notice.kind == "auto_finished":
        if not audience.oncall_email:
            return []
        return [make(audience="oncall", channel="mail", recipients=(audience.oncall_email,),
                     subject=f"[on-call] {subject}")]  # fmt: skip
    return [
        make(audience="customer", channel="mail", recipients=audience.informational_lists,
             subject=subject, in_reply_to=reply, references=reply)
    ]  # fmt: skip
