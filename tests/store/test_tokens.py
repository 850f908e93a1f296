"""API tokens on SQLite and PostgreSQL: shown once, stored as a hash, revocable."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.store import tokens
from outagewatch.store.migrate import upgrade
from outagewatch.store.tables import api_tokens
from outagewatch.store.tokens import TokenError

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    await upgrade(engine)
    return engine


async def create(db: AsyncEngine, name: str, role: str = "viewer", now: datetime = T0) -> str:
    async with db.begin() as conn:
        token, _ = await tokens.create(conn, name, role, now)
    return token


async def auth(db: AsyncEngine, presented: str, now: datetime = T0) -> tuple[str, str] | None:
    async with db.begin() as conn:
        return await tokens.authenticate(conn, presented, now)


async def info(db: AsyncEngine, name: str) -> tokens.TokenInfo:
    async with db.connect() as conn:
        (found,) = [t for t in await tokens.list_tokens(conn) if t.name == name]
    return found


async def test_a_created_token_authenticates_as_its_name_and_role(db: AsyncEngine) -> None:
    token = await create(db, "alice", "oncall")
    assert token.startswith("ow_")
    assert len(token) == 3 + 43  # 32 random bytes, URL-safe base64 without padding
    assert await auth(db, token) == ("alice", "oncall")


async def test_only_a_sha256_of_the_token_is_stored(db: AsyncEngine) -> None:
    token = await create(db, "alice")
    async with db.connect() as conn:
        row = (await conn.execute(select(api_tokens))).one()
    assert token not in [str(v) for v in row]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()


async def test_every_token_is_different(db: AsyncEngine) -> None:
    assert len({await create(db, f"bot-{n}") for n in range(5)}) == 5


NEAR_MISSES: dict[str, Callable[[str], str]] = {
    "prefix": lambda t: t[:-1],
    "extended": lambda t: t + "x",
    "last character": lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
    "case": lambda t: "ow_" + t[3:].swapcase(),
    "no prefix": lambda t: t[3:],
    "empty": lambda t: "",
    "absurdly long": lambda t: t + "A" * 500,
}


async def test_near_misses_do_not_authenticate(db: AsyncEngine) -> None:
    token = await create(db, "alice", "admin")
    accepted = [what for what, change in NEAR_MISSES.items() if await auth(db, change(token))]
    assert accepted == []
    assert await auth(db, token) == ("alice", "admin")


async def test_each_token_authenticates_as_itself(db: AsyncEngine) -> None:
    issued = {
        name: await create(db, name, role) for name, role in [("a", "viewer"), ("b", "admin")]
    }
    assert await auth(db, issued["a"]) == ("a", "viewer")
    assert await auth(db, issued["b"]) == ("b", "admin")


async def test_a_revoked_token_no_longer_authenticates(db: AsyncEngine) -> None:
    token = await create(db, "alice", "admin")
    other = await create(db, "bob", "admin")
    async with db.begin() as conn:
        assert await tokens.revoke(conn, "alice", T0 + timedelta(hours=1))
    assert await auth(db, token, T0 + timedelta(hours=2)) is None
    assert await auth(db, other, T0 + timedelta(hours=2)) == ("bob", "admin")
    assert (await info(db, "alice")).revoked_at == T0 + timedelta(hours=1)


async def test_revoke_says_whether_there_was_an_active_token(db: AsyncEngine) -> None:
    await create(db, "alice")
    async with db.begin() as conn:
        assert await tokens.revoke(conn, "nobody", T0) is False
        assert await tokens.revoke(conn, "alice", T0) is True
        assert await tokens.revoke(conn, "alice", T0 + timedelta(minutes=1)) is False
    assert (await info(db, "alice")).revoked_at == T0  # the first revocation stands


async def test_last_used_is_written_at_most_once_a_minute(db: AsyncEngine) -> None:
    token = await create(db, "alice")
    assert (await info(db, "alice")).last_used_at is None
    await auth(db, token, T0 + timedelta(seconds=5))
    assert (await info(db, "alice")).last_used_at == T0 + timedelta(seconds=5)
    await auth(db, token, T0 + timedelta(seconds=64))
    assert (await info(db, "alice")).last_used_at == T0 + timedelta(seconds=5)
    await auth(db, token, T0 + timedelta(seconds=65))
    assert (await info(db, "alice")).last_used_at == T0 + timedelta(seconds=65)


async def test_a_failed_attempt_touches_no_token(db: AsyncEngine) -> None:
    await create(db, "alice")
    assert await auth(db, "ow_" + "x" * 43) is None
    assert (await info(db, "alice")).last_used_at is None


async def test_list_shows_everything_but_the_secret(db: AsyncEngine) -> None:
    await create(db, "zed", "admin", T0)
    await create(db, "amy", "viewer", T0 + timedelta(minutes=1))
    async with db.connect() as conn:
        listed = await tokens.list_tokens(conn)
    assert [(t.name, t.role, t.created_at) for t in listed] == [
        ("amy", "viewer", T0 + timedelta(minutes=1)),
        ("zed", "admin", T0),
    ]
    assert not hasattr(listed[0], "token_hash")


async def test_has_active(db: AsyncEngine) -> None:
    async with db.connect() as conn:
        assert await tokens.has_active(conn) is False
    await create(db, "alice")
    async with db.connect() as conn:
        assert await tokens.has_active(conn) is True
    async with db.begin() as conn:
        await tokens.revoke(conn, "alice", T0)
    async with db.connect() as conn:
        assert await tokens.has_active(conn) is False


async def test_bad_names_and_roles_are_refused(db: AsyncEngine) -> None:
    cases = [
        ("alice smith", "viewer", "name 'alice smith': use 1 to 64 characters"),
        ("", "viewer", "name '': use 1 to 64"),
        ("a" * 65, "viewer", "use 1 to 64 characters"),
        ("alice", "root", "role 'root': use one of viewer, oncall, admin"),
    ]
    for name, role, expected in cases:
        with pytest.raises(TokenError, match=expected):
            await create(db, name, role)
    async with db.connect() as conn:
        assert await tokens.list_tokens(conn) == []


async def test_names_allow_what_operators_use(db: AsyncEngine) -> None:
    for name in ["alice", "noc@example.net", "deploy-bot_2", "a.b", "x" * 64]:
        await create(db, name)


async def test_a_name_is_never_reused_even_after_revocation(db: AsyncEngine) -> None:
    await create(db, "alice")
    with pytest.raises(TokenError, match="'alice': a token with this name exists"):
        await create(db, "alice")
    async with db.begin() as conn:
        await tokens.revoke(conn, "alice", T0)
    with pytest.raises(TokenError, match="revoked names stay taken"):
        await create(db, "alice")


async def test_comparison_is_constant_time_and_covers_every_active_token(
    db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Timing must not tell which token matched, nor how much of a guess was right: every
    active hash goes through hmac.compare_digest, also after a match."""
    issued = [await create(db, f"t{n}") for n in range(4)]
    async with db.begin() as conn:
        await tokens.revoke(conn, "t3", T0)
    compared: list[tuple[str, str]] = []
    real = tokens.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens, "compare_digest", spy)
    assert await auth(db, issued[0]) == ("t0", "viewer")
    digest = hashlib.sha256(issued[0].encode()).hexdigest()
    assert len(compared) == 3  # the three active tokens, although the first matched
    assert all(digest in pair for pair in compared)


async def test_tokens_are_listed_a_page_at_a_time_by_name(db: AsyncEngine) -> None:
    for n in range(7):
        await create(db, f"robot-{n}")
    async with db.connect() as conn:
        first = await tokens.list_tokens(conn, 3)
        second = await tokens.list_tokens(conn, 3, first[-1].name)
        rest = await tokens.list_tokens(conn, 3, second[-1].name)
    names = [t.name for t in first + second + rest]
    assert names == [f"robot-{n}" for n in range(7)] and len(rest) == 1
