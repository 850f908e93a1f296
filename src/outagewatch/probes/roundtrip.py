"""Round-trip probe: submit a probe mail through SMTP, see it arrive over IMAP, delete it.

Phases (DESIGN section 10): ``submit`` (SMTP up to the 250 after DATA, and QUIT),
``deliver`` (from there until IMAP sees the mail: IDLE, or polling where IDLE is not
offered), ``fetch`` (the IMAP work: logging in before the submission, then reading the
INTERNALDATE) and ``cleanup`` (its own message deleted by UID, and LOGOUT).

The mailbox session is opened before the submission so that ``deliver`` measures delivery
and not an IMAP login; one session per probe, so at most ``max_overlap`` connections per
round-trip service count against Dovecot's ``mail_max_userip_connections`` (10 by default).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from outagewatch.config import RoundtripService
from outagewatch.probes.authresults import fetch_results, results, summary
from outagewatch.probes.concerns import Concern, with_concern
from outagewatch.probes.imap import imap_session, logout, open_session
from outagewatch.probes.mailbox import PROBE_HEADER, Mailbox
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.probes.runner import Credentials
from outagewatch.probes.smtp import quit_session, smtp_session
from outagewatch.text import one_line


class _Within(PhaseTimer):
    """Inside the round trip an SMTP banner or an IMAP login belong to ``submit`` or
    ``fetch``: the sessions' own phase names are ignored, their TLS facts kept."""

    def __init__(self, outer: PhaseTimer) -> None:
        super().__init__()
        self.handshakes = outer.handshakes

    def phase(self, name: str) -> None:
        pass


async def probe_roundtrip(
    service: RoundtripService, credentials: Credentials | None, timer: PhaseTimer
) -> str:
    if credentials is None:
        raise ProbeFailure(ErrorKind.AUTH, "the mailbox needs a login")
    token = secrets.token_hex(12)
    inner = _Within(timer)
    timer.phase("fetch")
    async with imap_session(service.imap, inner) as imap:
        session = await open_session(imap, service.imap, credentials, inner)
        mailbox = Mailbox(imap, session, service.mailbox.folder, service.mailbox.junk)
        await mailbox.open()
        timer.phase("submit")
        submitted_with = await _submit(service, credentials, token, inner)
        timer.phase("deliver")
        found = await mailbox.wait_for(token)
        timer.phase("fetch")
        arrived = await mailbox.internaldate(found)
        headers = await fetch_results(imap, found.uid) if service.expect_auth else []
        timer.phase("cleanup")
        removed = await mailbox.delete(found)
        await logout(imap)
    how = "IDLE" if mailbox.uses_idle else "polling"
    place = f"junk: in {found.folder}" if found.junk else f"in {found.folder}"
    extra = f", {removed - 1} stale probe mail(s) removed" if removed > 1 else ""
    logins = f"; SMTP AUTH {submitted_with or 'none'}, IMAP {session.mechanism or 'PREAUTH'}"
    detail = f"{place}, INTERNALDATE {one_line(arrived, 40)}, seen by {how}{extra}{logins}"
    if service.expect_auth:
        passed, said = summary(results(headers))
        detail = (
            f"{detail}; {said}" if passed else with_concern(Concern.UNAUTHENTICATED, said, detail)
        )
    return detail


async def _submit(
    service: RoundtripService, credentials: Credentials, token: str, timer: PhaseTimer
) -> str | None:
    """Submit the probe mail; the SASL mechanism it logged in with (None: no AUTH)."""
    recipient = service.recipient or credentials.username
    submit = credentials.submit
    sender = service.sender or (submit.username if submit and "@" in submit.username else None)
    message = _message(sender or recipient, recipient, token)
    async with smtp_session(service.smtp, submit, timer) as session:
        errors, _ = await session.client.send_message(message)
        if errors:  # a refused recipient raises; this is a partial refusal
            refused = ", ".join(f"{k}: {v.code}" for k, v in errors.items())
            raise ProbeFailure(ErrorKind.PROTOCOL, f"recipient refused: {one_line(refused)}")
        await quit_session(session.client, timer)
        return session.mechanism


def _message(sender: str, recipient: str, token: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"outagewatch delivery probe {token}"
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = sender.rpartition("@")[2] or "outagewatch.invalid"
    message["Message-ID"] = f"<roundtrip.{token}@{domain}>"
    message[PROBE_HEADER] = token
    message.set_content(
        "A delivery probe of outagewatch: it measures how long mail takes to arrive, and\n"
        "deletes itself once found. Please leave it alone.\n"
    )
    return message
