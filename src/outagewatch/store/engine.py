"""Opening the database named by the config, with each backend's specifics in its own module."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from outagewatch.store import postgres, sqlite

BACKENDS = {"sqlite": sqlite, "postgresql": postgres}


def open_engine(url: str) -> AsyncEngine:
    parsed = make_url(url)
    backend = BACKENDS.get(parsed.get_backend_name())
    if backend is None:
        raise ValueError(
            f"database: unsupported backend {parsed.get_backend_name()!r} "
            "(use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB)"
        )
    if backend is sqlite and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(parsed, **backend.engine_options())
    backend.prepare(engine)
    return engine
