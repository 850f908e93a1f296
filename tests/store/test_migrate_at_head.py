"""A database at head is seen without alembic (issue 13: 9 MB and 0.15 s of every start);
anything else still goes through it."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.store.migrate import HEAD, current_revision, head_revision, require_head, upgrade

CHECK = """
import asyncio, sys
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import {call}

async def main():
    engine = open_engine(sys.argv[1])
    await {call}(engine)
    await engine.dispose()

asyncio.run(main())
print("alembic" in sys.modules)
"""


def _loads_alembic(call: str, url: str) -> bool:
    out = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", CHECK.format(call=call), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()[-1] == "True"


def test_the_newest_migration_file_is_alembics_head() -> None:
    assert head_revision() == HEAD


async def test_at_head_no_alembic_before_that_alembic(engine: AsyncEngine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    await upgrade(engine, "0008")
    assert _loads_alembic("upgrade", url)  # 0008 -> head needs it
    assert await current_revision(engine) == HEAD
    assert not _loads_alembic("upgrade", url)
    assert not _loads_alembic("require_head", url)
    await require_head(engine)


async def test_a_fresh_database_is_migrated(engine: AsyncEngine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    assert await current_revision(engine) is None
    assert _loads_alembic("upgrade", url)
    assert await current_revision(engine) == HEAD
