"""API bearer tokens: created once, shown once, stored only as a hash.

A token is ``ow_`` plus 32 random bytes (``secrets.token_urlsafe(32)``). The prefix makes a
leaked token recognisable to secret scanners and to a reader of a config file; it is not
part of the secret. Each token has a unique ``name``, which is the actor recorded in the
incident timeline, and one role of ``ROLES``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from hmac import compare_digest

from sqlalchemy import exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.store.tables import api_tokens

ROLES = ("viewer", "oncall", "admin")  # weakest first; api/auth.py orders them so
PREFIX = "ow_"
NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
# Writing last_used_at on every request would turn each read into a write (and on SQLite
# into a wait for the writer's lock); a minute is precise enough to spot unused tokens.
LAST_USED_PRECISION = timedelta(minutes=1)
_MAX_PRESENTED = 128  # a real token is 46 characters; longer input is not worth hashing


class TokenError(ValueError):
    """Bad input for a token operation; the message says what to do instead."""


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: everything except its hash."""

    id: int
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _digest(token: str) -> str:
    # A plain SHA-256 suffices: the token carries 256 bits of randomness, so unlike a
    # password it cannot be guessed from a stolen hash, and a slow KDF would only add
    # latency to every API request.
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise TokenError(
            f"name {name!r}: use 1 to 64 characters of letters, digits and . _ @ -"
            " (e.g. alice or deploy-bot)"
        )


def check_role(role: str) -> None:
    if role not in ROLES:
        raise TokenError(f"role {role!r}: use one of {', '.join(ROLES)}")


async def create(conn: AsyncConnection, name: str, role: str, now: datetime) -> tuple[str, int]:
    """Store a new token and return its plaintext (never stored) and its id."""
    check_name(name)
    check_role(role)
    if await conn.scalar(select(exists().where(api_tokens.c.name == name))):
        raise TokenError(f"name {name!r}: a token with this name exists (revoked names stay taken)")
    token = PREFIX + secrets.token_urlsafe(32)
    try:
        result = await conn.execute(
            insert(api_tokens).values(
                name=name, role=role, token_hash=_digest(token), created_at=now
            )
        )
    except IntegrityError:  # created concurrently between the check and the insert
        raise TokenError(f"name {name!r}: a token with this name exists") from None
    key = result.inserted_primary_key
    assert key is not None
    return token, int(key[0])


async def list_tokens(
    conn: AsyncConnection, limit: int | None = None, after: str | None = None
) -> list[TokenInfo]:
    """The tokens by name: ``limit`` of them, those named after ``after``."""
    query = select(
        api_tokens.c.id,
        api_tokens.c.name,
        api_tokens.c.role,
        api_tokens.c.created_at,
        api_tokens.c.last_used_at,
        api_tokens.c.revoked_at,
    ).order_by(api_tokens.c.name)
    if after is not None:
        query = query.where(api_tokens.c.name > after)
    return [TokenInfo(**row._mapping) for row in await conn.execute(query.limit(limit))]


async def revoke(conn: AsyncConnection, name: str, now: datetime) -> bool:
    """Revoke the active token called ``name``; False when there is none."""
    result = await conn.execute(
        update(api_tokens)
        .where(api_tokens.c.name == name, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


async def has_active(conn: AsyncConnection) -> bool:
    return bool(await conn.scalar(select(exists().where(api_tokens.c.revoked_at.is_(None)))))


async def authenticate(
    conn: AsyncConnection, presented: str, now: datetime
) -> tuple[str, str] | None:
    """The (name, role) of the active token ``presented``, or None.

    The hash of the presented token is compared with every active hash, in constant time
    and without stopping at a match, so the time taken says nothing about how much of a
    guess was right nor which token matched. The alternative, looking a token up by a
    non-secret id part embedded in it, would need a longer token format for no real gain:
    there are a handful of tokens, and reading the active rows is cheap next to a request.
    """
    if not presented.startswith(PREFIX) or len(presented) > _MAX_PRESENTED:
        return None  # the format is public; rejecting it early reveals nothing
    digest = _digest(presented)
    rows = await conn.execute(
        select(
            api_tokens.c.id, api_tokens.c.name, api_tokens.c.role, api_tokens.c.token_hash,
            api_tokens.c.last_used_at,
        ).where(api_tokens.c.revoked_at.is_(None))
    )  # fmt: skip
    found = None
    for row in rows:
        if compare_digest(row.token_hash, digest) and found is None:
            found = row
    if found is None:
        return None
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_PRECISION:
        # Guarded again in SQL so that concurrent requests write at most once per minute.
        await conn.execute(
            update(api_tokens)
            .where(
                api_tokens.c.id == found.id,
                api_tokens.c.last_used_at.is_(None)
                | (api_tokens.c.last_used_at <= now - LAST_USED_PRECISION),
            )
            .values(last_used_at=now)
        )
    return found.name, found.role
