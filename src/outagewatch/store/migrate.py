"""Alembic migrations, run from code (``outagewatch db upgrade`` and the daemon's start)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.store.errors import MIGRATE, DatabaseProblem, said_in_one_line

MIGRATIONS = Path(__file__).parent / "migrations"


def _alembic(connection: Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


MIGRATION_LOCK = 0x6F77_6D67  # "owmg"


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate to ``revision``; a database from a newer outagewatch is refused untouched."""
    with said_in_one_line(engine.url):
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Instances sharing a database start together: one migrates, the others wait
                # for its transaction and then find nothing left to do.
                await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            current = await conn.run_sync(_current)
            _refuse_unknown(engine, current)
            await conn.run_sync(lambda sync: command.upgrade(_alembic(sync), revision))


async def require_head(engine: AsyncEngine) -> None:
    """For readers that do not migrate (``report``, ``run --no-upgrade``): the schema must be
    exactly the one this code knows, or every query would fail in its own way."""
    path = engine.url.database
    sqlite = engine.url.get_backend_name() == "sqlite" and path and path != ":memory:"
    if sqlite and not await asyncio.to_thread(Path(str(path)).exists):
        # Checked before connecting: connecting would create an empty file at a mistyped path.
        raise DatabaseProblem(engine.url, "no such file", f"correct database: or {MIGRATE}",
                              transient=False)  # fmt: skip
    with said_in_one_line(engine.url):
        current = await current_revision(engine)
    _refuse_unknown(engine, current)
    head = head_revision()
    if current is None:
        raise DatabaseProblem(engine.url, "not migrated (no outagewatch tables)", MIGRATE,
                              transient=False)  # fmt: skip
    if current != head:
        raise DatabaseProblem(
            engine.url, f"at revision {current}, older than this outagewatch ({head})", MIGRATE,
            transient=False,
        )  # fmt: skip


def _current(sync: Connection) -> str | None:
    return MigrationContext.configure(sync).get_current_revision()


def _refuse_unknown(engine: AsyncEngine, current: str | None) -> None:
    if current is None:
        return
    try:
        known = ScriptDirectory(str(MIGRATIONS)).get_revision(current) is not None
    except CommandError:  # alembic's "Can't locate revision identified by ..."
        known = False
    if not known:
        raise DatabaseProblem(
            engine.url,
            f"at revision {current!r}, which this outagewatch does not know"
            f" (it knows up to {head_revision()}): a newer version migrated it",
            "run the newer outagewatch, or restore the backup taken before that upgrade",
            transient=False,
        )


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()
