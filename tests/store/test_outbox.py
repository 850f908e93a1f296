"""The outbox repository, identical on SQLite and PostgreSQL: claims, thread order, leases."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.notify import attempts, outbox
from outagewatch.notify.outbox import Notification
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade
from outagewatch.store.tables import notifications

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def note(thread: str = "incident:1", n: int = 0, **changes: Any) -> Notification:
    base = Notification(
        thread=thread,
        incident_id=1,
        kind="detected",
        audience="customer",
        channel="mail",
        recipients=("incidents-de-1@example.net", "noc@example.net"),
        subject="[OX Cloud EU de-1] [Sev 2] Outage: IMAP — detected",
        body_text="IMAP is down.",
        message_id=f"<OW-20261123-0007.{n}.{thread.replace(':', '-')}@example.net>",
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    await upgrade(engine)
    return engine


async def add(db: AsyncEngine, *items: Notification, now: datetime = T0) -> list[int]:
    async with db.begin() as conn:
        return [await outbox.enqueue(conn, item, now) for item in items]


async def state(db: AsyncEngine, row_id: int) -> dict[str, object]:
    async with db.connect() as conn:
        row = (await conn.execute(select(notifications).where(notifications.c.id == row_id))).one()
    return dict(row._mapping)


async def test_enqueue_stores_a_pending_row_due_now(db: AsyncEngine) -> None:
    (row_id,) = await add(db, note(references="<a@example.net> <b@example.net>"))
    row = await state(db, row_id)
    assert row["state"] == "pending"
    assert row["attempts"] == 0
    assert row["next_attempt_at"] == row["created_at"] == T0
    assert (
        row["pending_recipients"]
        == row["recipients"]
        == [
            "incidents-de-1@example.net",
            "noc@example.net",
        ]
    )
    assert row["references"] == "<a@example.net> <b@example.net>"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Outage — detected\r\nBcc: victim@example.org"),
        ("subject", "Outage\ndetected"),
        ("message_id", "<a@example.net>\r\nBcc: victim@example.org"),
        ("in_reply_to", "<a@example.net>\nX-Evil: 1"),
        ("references", "<a@example.net>\r\n <b@example.net>"),
        ("recipients", ("ok@example.net", "x@example.net\r\nBcc: victim@example.org")),
    ],
)
async def test_enqueue_refuses_line_breaks_in_header_fields(
    db: AsyncEngine, field: str, value: Any
) -> None:
    with pytest.raises(ValueError, match=rf"^{field}: must not contain CR, LF"):
        await add(db, note(**{field: value}))
    async with db.connect() as conn:
        assert await attempts.backlog(conn, T0) == (0, 0.0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"message_id": "no-brackets@example.net"}, "message_id: each must look like"),
        ({"recipients": ()}, "recipients: at least one"),
        ({"recipients": ("Name <a@example.net>",)}, "recipients: 'Name <a@example.net>'"),
        ({"channel": "pagerduty-ops"}, "recipients: a channel row names its channel"),
        ({"channel": "Not A Name"}, "channel: must be mail or a channel name"),
        ({"subject": "  "}, "subject: must be 1 to 998"),
        ({"thread": "incident:" + "9" * 60}, "thread: must be 1 to 64 characters"),
    ],
)
async def test_enqueue_refuses_malformed_fields(
    db: AsyncEngine, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        await add(db, note(**changes))


async def test_claim_takes_the_oldest_due_row_once(db: AsyncEngine) -> None:
    first, second = await add(db, note("incident:1"), note("incident:2"))
    claimed = await outbox.claim(db, T0, "fra-1", LEASE)
    assert claimed is not None
    assert (claimed.id, claimed.attempts, claimed.claimed_by) == (first, 1, "fra-1")
    assert claimed.subject.endswith("— detected")
    assert claimed.created_at == claimed.claimed_at == T0
    again = await outbox.claim(db, T0, "fra-1", LEASE)
    assert again is not None and again.id == second
    assert await outbox.claim(db, T0, "fra-1", LEASE) is None


async def test_a_row_is_not_claimed_before_it_is_due(db: AsyncEngine) -> None:
    (row_id,) = await add(db, note(), now=T0 + timedelta(seconds=1))
    assert await outbox.claim(db, T0, "fra-1", LEASE) is None
    claimed = await outbox.claim(db, T0 + timedelta(seconds=1), "fra-1", LEASE)
    assert claimed is not None and claimed.id == row_id


async def test_an_update_never_overtakes_a_pending_mail_of_its_thread(db: AsyncEngine) -> None:
    detected, other, update = await add(
        db, note("incident:1", 0), note("incident:2", 0), note("incident:1", 1, kind="update")
    )
    claimed = await outbox.claim(db, T0, "fra-1", LEASE)
    assert claimed is not None and claimed.id == detected
    async with db.begin() as conn:
        retry_at = T0 + timedelta(minutes=10)
        assert await attempts.mark_retry(
            conn, detected, T0, retry_at, "connect: refused", ["a@x.io"]
        )
    # The detected mail waits for its retry: the update behind it waits too, other threads not.
    later = T0 + timedelta(minutes=5)
    claimed = await outbox.claim(db, later, "fra-1", LEASE)
    assert claimed is not None and claimed.id == other
    assert await outbox.claim(db, later, "fra-1", LEASE) is None
    async with db.connect() as conn:
        assert await attempts.next_due(conn, LEASE) == retry_at
    # A mail that failed for good no longer holds its thread up.
    claimed = await outbox.claim(db, retry_at, "fra-1", LEASE)
    assert claimed is not None and claimed.id == detected
    async with db.begin() as conn:
        assert await attempts.mark_failed(conn, detected, retry_at, "mail from: 550 no relaying")
    claimed = await outbox.claim(db, retry_at, "fra-1", LEASE)
    assert claimed is not None and claimed.id == update


async def test_a_crashed_senders_row_is_taken_again_after_the_lease(db: AsyncEngine) -> None:
    (row_id,) = await add(db, note())
    crashed = await outbox.claim(db, T0, "fra-1", LEASE)
    assert crashed is not None
    assert await outbox.claim(db, T0 + LEASE, "nyc-1", LEASE) is None  # the lease still holds
    async with db.connect() as conn:
        assert await attempts.next_due(conn, LEASE) == T0 + LEASE
    after = T0 + LEASE + timedelta(seconds=1)
    taken = await outbox.claim(db, after, "nyc-1", LEASE)
    assert taken is not None
    assert (taken.id, taken.attempts, taken.claimed_by) == (row_id, 2, "nyc-1")
    assert taken.message_id == crashed.message_id
    async with db.begin() as conn:
        # The first sender wakes up: its claim is gone, its result is not recorded.
        assert not await attempts.mark_sent(conn, row_id, after, {}, claimed_at=crashed.claimed_at)
        assert await attempts.mark_sent(conn, row_id, after, {}, claimed_at=taken.claimed_at)
    row = await state(db, row_id)
    assert (row["state"], row["sent_at"], row["pending_recipients"]) == ("sent", after, [])


async def test_refused_recipients_are_kept_across_retries(db: AsyncEngine) -> None:
    (row_id,) = await add(db, note(recipients=("a@x.io", "b@x.io", "c@x.io")))
    claimed = await outbox.claim(db, T0, "fra-1", LEASE)
    assert claimed is not None
    async with db.begin() as conn:
        await attempts.mark_retry(
            conn,
            row_id,
            T0,
            T0 + timedelta(seconds=30),
            "deferred b@x.io: 451 4.3.0 try later",
            ["b@x.io"],
            failed_recipients={"a@x.io": "550 5.1.1 no such user"},
        )
    row = await state(db, row_id)
    assert row["state"] == "pending"
    assert row["pending_recipients"] == ["b@x.io"]
    assert row["last_error"] == (
        "2026-11-23T10:00:00+00:00 deferred b@x.io: 451 4.3.0 try later\n"
        "refused a@x.io: 550 5.1.1 no such user"
    )
    again = await outbox.claim(db, T0 + timedelta(seconds=30), "fra-1", LEASE)
    assert again is not None
    assert again.pending_recipients == ("b@x.io",)
    assert again.refused == {"a@x.io": "550 5.1.1 no such user"}
    async with db.begin() as conn:
        await attempts.mark_sent(conn, row_id, T0 + timedelta(seconds=30), {})
    assert (await state(db, row_id))["last_error"] == "refused a@x.io: 550 5.1.1 no such user"


async def test_backlog_counts_unsent_rows_and_the_age_of_the_oldest(db: AsyncEngine) -> None:
    async with db.connect() as conn:
        assert await attempts.backlog(conn, T0) == (0, 0.0)
    first, _, third = await add(db, note("incident:1"), note("incident:2"), note("incident:3"))
    await add(db, note("incident:4"), now=T0 + timedelta(minutes=1))
    for _ in range(2):
        assert await outbox.claim(db, T0, "fra-1", LEASE) is not None  # sending still counts
    async with db.begin() as conn:
        await attempts.mark_sent(conn, first, T0, {})
        assert not await attempts.mark_failed(conn, third, T0, "gone")  # not claimed: unchanged
        assert await attempts.backlog(conn, T0 + timedelta(minutes=2)) == (3, 120.0)


async def claim_all(db: AsyncEngine, worker: str, seen: list[tuple[str, int]]) -> None:
    """Claim and deliver until nothing is left; yields to the other claimers in between."""
    idle = 0
    while idle < 3:
        claimed = await outbox.claim(db, T0, worker, LEASE)
        if claimed is None:
            idle += 1  # a thread may be held by another claimer's row: look again
            await asyncio.sleep(0)
            continue
        idle = 0
        seen.append((worker, claimed.id))
        await asyncio.sleep(0)
        async with db.begin() as conn:
            assert await attempts.mark_sent(conn, claimed.id, T0, {}, claimed_at=claimed.claimed_at)


async def test_concurrent_senders_on_two_engines_never_share_a_row(db: AsyncEngine) -> None:
    # Two daemons that both believe they lead (a fail-over): separate pools, one database.
    other = open_engine(db.url.render_as_string(hide_password=False))
    try:
        items = [note(f"incident:{i % 5}", i) for i in range(40)]
        ids = await add(db, *items)
        seen: list[tuple[str, int]] = []
        await asyncio.gather(
            *(claim_all(engine, f"w{k}", seen) for k, engine in enumerate([db, other] * 2))
        )
    finally:
        await other.dispose()
    claimed = [row_id for _, row_id in seen]
    assert sorted(claimed) == ids  # each row exactly once
    assert len({worker for worker, _ in seen}) > 1  # they really competed
    thread_of = {row_id: item.thread for row_id, item in zip(ids, items, strict=True)}
    for thread in {item.thread for item in items}:
        in_thread = [row_id for row_id in claimed if thread_of[row_id] == thread]
        assert in_thread == sorted(in_thread)  # and each thread in order
