"""What a delivery attempt leaves in the outbox: sent, to be retried, failed for good; the
rows a changed relay or channel releases at once; the backlog the metrics show.

The claim itself is notify/outbox.py's; a sender calls these with the row it claimed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.config.channels import ChannelName
from outagewatch.notify.outbox import MAX_ERROR, REFUSED, UNSENT, held_back, refusals
from outagewatch.store.tables import notifications
from outagewatch.text import one_line


def _record(error: str | None, refused: Mapping[str, str]) -> str | None:
    lines = [one_line(error, 300)] if error else []
    lines += [f"{REFUSED}{a}: {one_line(r, 150)}" for a, r in sorted(refused.items())]
    return "\n".join(lines)[:MAX_ERROR] or None


async def _finish(
    conn: AsyncConnection,
    row_id: int,
    claimed_at: datetime | None,
    error: str | None,
    refused: Mapping[str, str],
    values: dict[str, Any],
) -> bool:
    """Apply the outcome of a claim; False if the claim was lost (lease expired, re-taken)."""
    n = notifications
    guard = [n.c.id == row_id, n.c.state == "sending"]
    if claimed_at is not None:
        guard.append(n.c.claimed_at == claimed_at)
    # Write first, read after: the write lock is taken before the read, so no snapshot
    # needs upgrading (SQLite would refuse that while another sender commits).
    result = await conn.execute(update(n).where(*guard).values(**values))
    if result.rowcount != 1:
        return False
    earlier = await conn.scalar(select(n.c.last_error).where(n.c.id == row_id))
    record = _record(error, {**refusals(earlier), **refused})
    await conn.execute(update(n).where(n.c.id == row_id).values(last_error=record))
    return True


async def mark_sent(
    conn: AsyncConnection,
    notification_id: int,
    now: datetime,
    failed_recipients: Mapping[str, str],
    *,
    claimed_at: datetime | None = None,
    relay: str | None = None,
) -> bool:
    """Delivered to every pending recipient but ``failed_recipients`` (refused for good),
    through ``relay`` (host:port; None for webhooks).

    With ``claimed_at`` (the claim's token) the row is only changed while that claim holds.
    """
    values = {"state": "sent", "sent_at": now, "pending_recipients": [], "relay": relay}
    return await _finish(conn, notification_id, claimed_at, None, failed_recipients, values)


async def mark_retry(
    conn: AsyncConnection,
    notification_id: int,
    now: datetime,
    next_attempt_at: datetime,
    error: str,
    pending_recipients: Sequence[str],
    *,
    failed_recipients: Mapping[str, str] | None = None,
    claimed_at: datetime | None = None,
) -> bool:
    """Try again at ``next_attempt_at``, for ``pending_recipients`` only."""
    values = {
        "state": "pending",
        "next_attempt_at": next_attempt_at,
        "pending_recipients": list(pending_recipients),
    }
    stamped = f"{now.isoformat(timespec='seconds')} {error}"
    return await _finish(
        conn, notification_id, claimed_at, stamped, failed_recipients or {}, values
    )


async def mark_failed(
    conn: AsyncConnection,
    notification_id: int,
    now: datetime,
    error: str,
    *,
    failed_recipients: Mapping[str, str] | None = None,
    claimed_at: datetime | None = None,
) -> bool:
    """Given up for good: the relay refused the message itself (or every recipient)."""
    stamped = f"{now.isoformat(timespec='seconds')} {error}"
    values = {"state": "failed", "pending_recipients": []}
    return await _finish(
        conn, notification_id, claimed_at, stamped, failed_recipients or {}, values
    )


async def release(conn: AsyncConnection, now: datetime, channel: ChannelName) -> int:
    """Make every pending row of ``channel`` due now (its transport answers again), rather
    than each waiting for its backoff slot. Returns how many were waiting."""
    n = notifications
    result = await conn.execute(
        update(n)
        .where(n.c.state == "pending", n.c.channel == channel, n.c.next_attempt_at > now)
        .values(next_attempt_at=now)
    )
    return result.rowcount


async def backlog(conn: AsyncConnection, now: datetime) -> tuple[int, float]:
    """Rows not yet delivered (pending or sending), and the age of the oldest in seconds."""
    n = notifications
    count, oldest = (
        await conn.execute(
            select(func.count(), func.min(n.c.created_at)).where(n.c.state.in_(UNSENT))
        )
    ).one()
    age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
    return int(count), age


async def next_due(conn: AsyncConnection, lease: timedelta) -> datetime | None:
    """When `claim` will next find work (ignoring rows their thread still holds back)."""
    n = notifications
    pending = await conn.scalar(
        select(func.min(n.c.next_attempt_at)).where(n.c.state == "pending", ~held_back())
    )
    claimed = await conn.scalar(select(func.min(n.c.claimed_at)).where(n.c.state == "sending"))
    times = [t for t in (pending, None if claimed is None else claimed + lease) if t is not None]
    return min(times, default=None)
