"""Alembic migrations, run from code (``outagewatch db upgrade`` and the daemon's start).

Alembic itself (with Mako and Pygments: 9 MB and 0.15 s) is imported only when the database
is not at this code's head; a database at head, a restart's usual case, is seen with one
plain query of its version table.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.store.errors import MIGRATE, DatabaseProblem, said_in_one_line

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).parent / "migrations"
# Every migration file is named after its revision (0009_compact_samples.py is "0009") and
# revisions are numbered in order: the newest file is the head (tests/store checks alembic
# agrees).
HEAD = max(p.name[:4] for p in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))


def _at_head(sync: Connection) -> bool:
    """Whether the version table holds exactly this code's head: then nothing needs alembic."""
    if not sa.inspect(sync).has_table("alembic_version"):
        return False
    rows = sync.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return rows == [HEAD]


def _alembic(connection: Connection) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

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
            if revision == "head" and await conn.run_sync(_at_head):
                return
            current = await conn.run_sync(_current)
            _refuse_unknown(engine, current)
            await conn.run_sync(lambda sync: _upgrade(sync, revision))


def _upgrade(sync: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(_alembic(sync), revision)


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
        async with engine.connect() as conn:
            if await conn.run_sync(_at_head):
                return
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
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(sync).get_current_revision()


def _refuse_unknown(engine: AsyncEngine, current: str | None) -> None:
    if current is None:
        return
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

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
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS)).get_current_head()
