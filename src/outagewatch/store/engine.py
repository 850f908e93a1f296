"""Opening the database named by the config, with each backend's specifics in its own module."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from outagewatch.store import postgres, sqlite
from outagewatch.store.errors import DatabaseProblem

BACKENDS = {"sqlite": sqlite, "postgresql": postgres}


SHAPES = "use sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"


def open_engine(url: str) -> AsyncEngine:
    """An engine for ``url``; no connection is made until first use."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseProblem(url, "not a database URL", SHAPES, transient=False) from None
    backend = BACKENDS.get(parsed.get_backend_name())
    if backend is None:
        raise DatabaseProblem(
            url, f"unsupported backend {parsed.get_backend_name()!r}", SHAPES, transient=False
        )
    if backend is sqlite and parsed.database and parsed.database != ":memory:":
        directory = Path(parsed.database).parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseProblem(
                url,
                f"cannot create the directory {directory} ({exc.strerror or exc})",
                "correct the path in database: or create the directory for this user",
                transient=False,
            ) from None
    engine = create_async_engine(parsed, **backend.engine_options())
    backend.prepare(engine)
    return engine
