"""The certificates seen per service and vantage, and the warnings told per service."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.certificates.decisions import Level, Told
from outagewatch.store.tables import certificate_warnings, tls_certificates
from outagewatch.tls.facts import TlsFacts

Key = tuple[str, str, str]  # platform, service, vantage


async def save_seen(conn: AsyncConnection, key: Key, facts: TlsFacts, now: datetime) -> None:
    """Each vantage writes only its own rows, so update-then-insert cannot race."""
    platform, service, vantage = key
    values = {"fingerprint": facts.fingerprint, "facts": facts.as_dict(), "seen_at": now}
    t = tls_certificates.c
    changed = await conn.execute(
        update(tls_certificates)
        .where(t.platform == platform, t.service == service, t.vantage == vantage)
        .values(**values)
    )
    if changed.rowcount == 0:
        await conn.execute(
            insert(tls_certificates).values(
                platform=platform, service=service, vantage=vantage, **values
            )
        )


async def all_seen(conn: AsyncConnection) -> dict[Key, tuple[TlsFacts, datetime]]:
    t = tls_certificates.c
    rows = await conn.execute(select(t.platform, t.service, t.vantage, t.facts, t.seen_at))
    return {(p, s, v): (TlsFacts.from_dict(facts), at) for p, s, v, facts, at in rows}


async def seen_of(
    conn: AsyncConnection, keys: Sequence[tuple[str, str]]
) -> dict[Key, tuple[TlsFacts, datetime]]:
    """The certificates last seen of the services ``keys`` names, per vantage."""
    t = tls_certificates.c
    query = select(t.platform, t.service, t.vantage, t.facts, t.seen_at).where(
        t.platform.in_({p for p, _ in keys})
    )
    wanted = set(keys)
    return {
        (p, s, v): (TlsFacts.from_dict(facts), at)
        for p, s, v, facts, at in await conn.execute(query)
        if (p, s) in wanted
    }


async def all_told(conn: AsyncConnection) -> dict[tuple[str, str], Told]:
    w = certificate_warnings.c
    rows = await conn.execute(select(w.platform, w.service, w.fingerprint, w.level))
    return {(p, s): Told(fingerprint, Level(lvl)) for p, s, fingerprint, lvl in rows}


async def save_told(conn: AsyncConnection, key: tuple[str, str], told: Told, now: datetime) -> None:
    """Only the leader writes these."""
    platform, service = key
    values = {"fingerprint": told.fingerprint, "level": int(told.level), "updated_at": now}
    w = certificate_warnings.c
    changed = await conn.execute(
        update(certificate_warnings)
        .where(w.platform == platform, w.service == service)
        .values(**values)
    )
    if changed.rowcount == 0:
        await conn.execute(
            insert(certificate_warnings).values(platform=platform, service=service, **values)
        )
