"""The same storage tests on SQLite and on the real PostgreSQL at 127.0.0.1:5432."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.store.engine import open_engine
from tests.conftest import missing_real

POSTGRES_URL = os.environ.get(
    "OUTAGEWATCH_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


async def _postgres_database() -> tuple[str, str]:
    """A throwaway database per test, so tests never see each other's rows."""
    base = make_url(POSTGRES_URL)
    name = f"ow_test_{uuid.uuid4().hex[:12]}"
    dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        conn = await asyncpg.connect(dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as exc:
        missing_real(f"PostgreSQL at {base.host}:{base.port} is not reachable: {exc}")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return base.set(database=name).render_as_string(hide_password=False), dsn


async def _drop(name: str, admin_dsn: str) -> None:
    conn = await asyncpg.connect(admin_dsn, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.real)])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        eng = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}")
        yield eng
        await eng.dispose()
        return
    url, admin = await _postgres_database()
    eng = open_engine(url)
    yield eng
    await eng.dispose()
    await _drop(make_url(url).database or "", admin)
