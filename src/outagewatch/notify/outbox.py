"""The outbox: every notification is a row, rendered, before any attempt to send it.

Senders take rows with `claim`, a compare-and-set, so that several senders (even two
leaders during a fail-over) never hold the same row at once. Delivery is at-least-once: a
sender that dies mid-send leaves its row ``sending``; after the lease another sender takes
it again and sends it with the same Message-ID.

Within a thread (all mails of one incident) rows go out strictly in id order: a row waits
while an earlier row of its thread is still pending or sending, so an update never
overtakes its "detected" mail. A row that failed for good does not hold its thread up.

A newer notice of a stream (thread, audience, channel) supersedes that stream's pending rows
(notify/supersession.py decides which): they stay as ``superseded``, never sent, never
deleted, and the newer row carries their news on.

Recipients refused for good are kept in ``last_error``, one ``refused ADDRESS: REPLY`` line
each, so that the record survives the retries of the other recipients.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from outagewatch.config.channels import ChannelName
from outagewatch.notify.supersession import (
    Supersession,
    Undelivered,
    news_from_json,
    news_to_json,
    supersession_for,
)
from outagewatch.store.tables import notifications

# Whom a row is for; where each audience of a platform is reached: incidents/mails.py's Audience.
AudienceName = Literal["customer", "oncall"]
UNSENT = ("pending", "sending")
# How many due rows one claim looks at before querying again (others may take some).
CANDIDATES = 16
MAX_ERROR = 1000  # the column's length
MAX_SUBJECT = 998  # RFC 5322 line limit, and the column's length
_MESSAGE_ID = re.compile(r"^<[^<>\s@]+@[^<>\s@]+>$")
_CHANNEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
REFUSED = "refused "


@dataclass(frozen=True, kw_only=True)
class Notification:
    """One notification to enqueue, rendered: the sender adds nothing but transport headers.

    ``recipients`` are addresses for ``mail``; a channel row names its channel as its one
    recipient and carries the facts its transport needs in ``details``. ``references`` is
    the References header: earlier Message-IDs of the thread, oldest first, by spaces.
    """

    thread: str
    incident_id: int | None
    kind: str
    audience: AudienceName
    channel: ChannelName  # "mail", or the name of a channel under ``channels:``
    recipients: Sequence[str]
    subject: str
    body_text: str
    body_html: str | None = None
    message_id: str
    in_reply_to: str | None = None
    references: str | None = None
    details: Mapping[str, Any] | None = None
    # What it tells, (time, text), kept so that a row superseding it carries it on.
    news: Sequence[tuple[datetime, str]] = ()
    stands_for: int = 1  # notices it carries: itself and those it superseded

    def __post_init__(self) -> None:
        object.__setattr__(self, "recipients", tuple(self.recipients))
        object.__setattr__(self, "news", tuple(self.news))


@dataclass(frozen=True, kw_only=True)
class Claimed:
    """A row a sender holds: send it to ``pending_recipients``, then mark it."""

    id: int
    thread: str
    incident_id: int | None
    kind: str
    audience: AudienceName
    channel: ChannelName
    recipients: tuple[str, ...]
    pending_recipients: tuple[str, ...]
    subject: str
    body_text: str
    body_html: str | None
    message_id: str
    in_reply_to: str | None
    references: str | None
    attempts: int  # including the one this claim is for
    created_at: datetime
    claimed_at: datetime  # the claim's token: marks only apply while the claim holds
    claimed_by: str
    refused: Mapping[str, str] = field(default_factory=dict)  # by earlier attempts
    details: Mapping[str, Any] | None = None  # a channel row's facts


def problems(n: Notification) -> list[str]:
    """What is wrong with a notification; header fields must never carry a line break."""
    found = []
    one_line_fields: dict[str, Sequence[str]] = {
        "thread": [n.thread],
        "kind": [n.kind],
        "subject": [n.subject],
        "message_id": [n.message_id],
        "in_reply_to": [n.in_reply_to or ""],
        "references": [n.references or ""],
        "recipients": n.recipients,
    }
    for name, values in one_line_fields.items():
        if any(ch in value for value in values for ch in "\r\n\0"):
            found.append(f"{name}: must not contain CR, LF or NUL (header injection)")
    if not n.subject.strip() or len(n.subject) > MAX_SUBJECT:
        found.append(f"subject: must be 1 to {MAX_SUBJECT} characters")
    sized = {
        "thread": n.thread,
        "kind": n.kind,
        "message_id": n.message_id,
        "in_reply_to": n.in_reply_to,
        "references": n.references,
    }
    for name, value in sized.items():
        limit = getattr(notifications.c[name].type, "length", None)  # the column's, one truth
        if value is not None and limit is not None and not 0 < len(value) <= limit:
            found.append(f"{name}: must be 1 to {limit} characters")
    for name, ids in (
        ("message_id", [n.message_id]),
        ("in_reply_to", [n.in_reply_to] if n.in_reply_to is not None else []),
        ("references", (n.references or "").split()),
    ):
        if not all(_MESSAGE_ID.match(mid) for mid in ids):
            found.append(f"{name}: each must look like <unique@domain>")
    if n.audience not in ("customer", "oncall"):
        found.append(f"audience: must be customer or oncall, not {n.audience!r}")
    return found + _recipient_problems(n)


def _recipient_problems(n: Notification) -> list[str]:
    if not n.recipients:
        return ["recipients: at least one is needed"]
    if n.channel != "mail":
        if not _CHANNEL.match(n.channel):
            return [f"channel: must be mail or a channel name, not {n.channel!r}"]
        if n.recipients != (n.channel,):
            return ["recipients: a channel row names its channel as its one recipient"]
        return []
    return [
        f"recipients: {address!r} is not a bare e-mail address"
        for address in n.recipients
        if parseaddr(address)[1] != address or "@" not in address
    ]


async def enqueue(conn: AsyncConnection, n: Notification, now: datetime) -> int:
    """Store a notification as pending, due now; ValueError names each bad field."""
    found = problems(n)
    if found:
        raise ValueError("; ".join(found))
    result = await conn.execute(
        notifications.insert().values(
            thread=n.thread,
            incident_id=n.incident_id,
            kind=n.kind,
            audience=n.audience,
            channel=n.channel,
            recipients=list(n.recipients),
            pending_recipients=list(n.recipients),
            subject=n.subject,
            body_text=n.body_text,
            body_html=n.body_html,
            message_id=n.message_id,
            in_reply_to=n.in_reply_to,
            references=n.references or None,
            details=dict(n.details) if n.details is not None else None,
            state="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            news=news_to_json(n.news) if n.news else None,
            stands_for=n.stands_for,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def undelivered(
    conn: AsyncConnection, thread: str, audience: str, channel: str
) -> list[Undelivered]:
    """The stream's rows not yet delivered, oldest first (what a new row may supersede)."""
    n = notifications
    rows = await conn.execute(
        select(n.c.id, n.c.kind, n.c.state, n.c.attempts, n.c.news, n.c.stands_for)
        .where(
            n.c.thread == thread,
            n.c.audience == audience,
            n.c.channel == channel,
            n.c.state.in_(UNSENT),
        )
        .order_by(n.c.id)
    )
    return [
        Undelivered(row.id, row.kind, row.state, row.attempts, news_from_json(row.news),
                    row.stands_for)
        for row in rows
    ]  # fmt: skip


async def take_over(conn: AsyncConnection, draft: Notification) -> Supersession:
    """Supersede what ``draft`` supersedes in its stream, before ``draft`` is enqueued: the
    supersession as applied (rows a sender claimed meanwhile are left out)."""
    stream = await undelivered(conn, draft.thread, draft.audience, draft.channel)
    found = supersession_for(draft.kind, stream)
    return Supersession.of(await supersede(conn, found.superseded))


async def supersede(conn: AsyncConnection, rows: Sequence[Undelivered]) -> list[Undelivered]:
    """Mark ``rows`` superseded, newest first, each with compare-and-set; stop at the first
    that a sender claimed meanwhile (it may be at the relay already: it and everything
    before it stay). Returns the rows superseded, oldest first."""
    n = notifications
    taken: list[Undelivered] = []
    for row in reversed(rows):
        result = await conn.execute(
            update(n)
            .where(n.c.id == row.id, n.c.state == "pending", n.c.attempts == row.attempts)
            .values(state="superseded", pending_recipients=[])
        )
        if result.rowcount != 1:
            break
        taken.append(row)
    taken.reverse()
    return taken


async def withdraw(conn: AsyncConnection, thread: str, kinds: Sequence[str]) -> int:
    """Rows of ``kinds`` still pending that no longer hold (a reminder to acknowledge an
    incident that was just acknowledged): superseded by the event, sent never."""
    n = notifications
    result = await conn.execute(
        update(n)
        .where(n.c.thread == thread, n.c.kind.in_(list(kinds)), n.c.state == "pending")
        .values(state="superseded", pending_recipients=[])
    )
    return result.rowcount


async def link_superseded(conn: AsyncConnection, rows: Sequence[Undelivered], by: int) -> None:
    """Record which row carries the news of the superseded ``rows`` on."""
    if rows:
        await conn.execute(
            update(notifications)
            .where(notifications.c.id.in_([row.id for row in rows]))
            .values(superseded_by=by)
        )


def held_back() -> ColumnElement[bool]:
    """An earlier row of the same thread is still pending or sending."""
    n, earlier = notifications, notifications.alias("earlier")
    return exists().where(
        earlier.c.thread == n.c.thread, earlier.c.id < n.c.id, earlier.c.state.in_(UNSENT)
    )


def _claimable(now: datetime, lease: timedelta) -> ColumnElement[bool]:
    n = notifications
    due = or_(
        and_(n.c.state == "pending", n.c.next_attempt_at <= now),
        # A sender that crashed (or hangs) mid-send: send again, same Message-ID.
        and_(n.c.state == "sending", n.c.claimed_at < now - lease),
    )
    return and_(due, ~held_back())


async def claim(
    engine: AsyncEngine, now: datetime, worker: str, lease: timedelta
) -> Claimed | None:
    """Take a due row whose thread has nothing earlier unsent, oldest thread first (a
    backlog goes out thread after thread, each in order); None when none is."""
    n, first = notifications, notifications.alias("first")
    thread_age = select(func.min(first.c.id)).where(first.c.thread == n.c.thread).scalar_subquery()
    query = (
        select(n.c.id, n.c.state, n.c.claimed_at, n.c.attempts)
        .where(_claimable(now, lease))
        .order_by(thread_age, n.c.id)
        .limit(CANDIDATES)
    )
    while True:
        async with engine.connect() as conn:
            seen = (await conn.execute(query)).all()
        if not seen:
            return None
        for row_id, state, claimed_at, attempts in seen:
            # Each compare-and-set in its own short transaction: no snapshot is held across
            # the read above (SQLite would refuse to upgrade it once another writer committed).
            async with engine.begin() as conn:
                result = await conn.execute(
                    update(n)
                    .where(
                        n.c.id == row_id,
                        n.c.state == state,
                        n.c.attempts == attempts,  # a version: every claim increments it
                        n.c.claimed_at.is_(None)
                        if claimed_at is None
                        else n.c.claimed_at == claimed_at,
                    )
                    .values(
                        state="sending",
                        claimed_at=now,
                        claimed_by=worker,
                        attempts=n.c.attempts + 1,
                    )
                )
                if result.rowcount == 1:
                    return await _load(conn, row_id)
        # Every candidate went to another sender meanwhile: look again.


async def _load(conn: AsyncConnection, row_id: int) -> Claimed:
    row = (await conn.execute(select(notifications).where(notifications.c.id == row_id))).one()
    m = row._mapping
    return Claimed(
        id=m["id"],
        thread=m["thread"],
        incident_id=m["incident_id"],
        kind=m["kind"],
        audience=m["audience"],
        channel=m["channel"],
        recipients=tuple(m["recipients"]),
        pending_recipients=tuple(m["pending_recipients"]),
        subject=m["subject"],
        body_text=m["body_text"],
        body_html=m["body_html"],
        message_id=m["message_id"],
        in_reply_to=m["in_reply_to"],
        references=m["references"],
        attempts=m["attempts"],
        created_at=m["created_at"],
        claimed_at=m["claimed_at"],
        claimed_by=m["claimed_by"],
        refused=refusals(m["last_error"]),
        details=m["details"],
    )


def refusals(last_error: str | None) -> dict[str, str]:
    """The recipients refused for good, as recorded in ``last_error``."""
    found = {}
    for line in (last_error or "").splitlines():
        if line.startswith(REFUSED):
            address, _, reply = line.removeprefix(REFUSED).partition(": ")
            found[address] = reply
    return found
