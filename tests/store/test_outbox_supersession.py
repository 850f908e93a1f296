"""Supersession in the outbox, identical on SQLite and PostgreSQL: compare-and-set against
the senders' claims, the record kept, the backlog released when a relay answers again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.notify import attempts, outbox
from outagewatch.notify.supersession import News
from outagewatch.store.migrate import upgrade

from .test_outbox import LEASE, T0, add, note, state


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:  # SQLite and PostgreSQL (conftest.py)
    await upgrade(engine)
    return engine


async def test_a_newer_update_takes_over_the_pending_ones_but_not_the_one_being_sent(
    db: AsyncEngine,
) -> None:
    told = [(T0, "a"), (T0, "b")]
    ids = await add(
        db,
        note(n=0),
        note(n=1, kind="update", news=told[:1]),
        note(n=2, kind="update", news=told[1:]),
    )
    assert (await outbox.claim(db, T0, "fra-1", LEASE)).id == ids[0]  # type: ignore[union-attr]
    async with db.begin() as conn:
        taken = await outbox.take_over(conn, note(n=3, kind="update"))
    assert [r.id for r in taken.superseded] == [ids[1], ids[2]]
    assert taken.news == tuple(News(*n) for n in told)
    assert taken.stands_for == 2
    assert [(await state(db, i))["state"] for i in ids] == ["sending", "superseded", "superseded"]


async def test_a_row_claimed_meanwhile_stays_and_so_does_everything_before_it(
    db: AsyncEngine,
) -> None:
    ids = await add(db, note(n=1, kind="update"), note(n=2, kind="update"))
    async with db.connect() as conn:
        seen = await outbox.undelivered(conn, "incident:1", "customer", "mail")
    assert (await outbox.claim(db, T0, "fra-1", LEASE)).id == ids[0]  # type: ignore[union-attr]
    async with db.begin() as conn:  # the plan was made before the claim
        taken = await outbox.supersede(conn, seen)
    assert [r.id for r in taken] == [ids[1]]
    assert (await state(db, ids[0]))["state"] == "sending"


async def test_release_makes_the_waiting_mail_due_now(db: AsyncEngine) -> None:
    (mail, hook) = await add(
        db, note(n=1), note("incident:2", n=2, channel="webhook", recipients=("webhook",))
    )
    for _ in (mail, hook):
        claimed = await outbox.claim(db, T0, "fra-1", LEASE)
        assert claimed is not None
        async with db.begin() as conn:
            await attempts.mark_retry(
                conn, claimed.id, T0, T0 + timedelta(minutes=15), "connect: refused",
                claimed.pending_recipients, claimed_at=claimed.claimed_at,
            )  # fmt: skip
    later = T0 + timedelta(minutes=1)
    async with db.begin() as conn:
        assert await attempts.release(conn, later, channel="mail") == 1
    assert (await state(db, mail))["next_attempt_at"] == later
    assert (await state(db, hook))["next_attempt_at"] == T0 + timedelta(minutes=15)
