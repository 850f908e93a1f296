"""The e-mail a claimed notification becomes: headers from the row, UTF-8 text (+ HTML)."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

from outagewatch.notify.outbox import Claimed


def build_message(item: Claimed, sender: str) -> EmailMessage:
    """The message for ``item``, From ``sender`` (the relay's mailbox).

    To names every recipient of the notification, also when a retry goes to only some of
    them: it is the same mail, with the same Message-ID. Date is when the notification was
    created, so a mail delayed by a relay outage says when it was written.
    """
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = ", ".join(item.recipients)
    msg["Subject"] = item.subject
    msg["Date"] = format_datetime(item.created_at)
    msg["Message-ID"] = item.message_id
    if item.in_reply_to:
        msg["In-Reply-To"] = item.in_reply_to
    if item.references:
        msg["References"] = item.references
    # RFC 3834: no vacation or out-of-office replies to the lists. Exchange ignores
    # Auto-Submitted and honours only its own header.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    # Delivery is at-least-once: a sender that died after the relay took the mail sends it
    # again with the same Message-ID. The attempt number marks such a resend as a retry.
    msg["X-Outagewatch-Attempt"] = str(item.attempts)
    # Quoted-printable keeps the body 7-bit: any relay takes it, with or without 8BITMIME.
    msg.set_content(item.body_text, charset="utf-8", cte="quoted-printable")
    if item.body_html is not None:
        msg.add_alternative(item.body_html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg
