"""``outagewatch run`` started before its database exists: it stays up, /healthz alive and
/readyz not ready, retries one line per attempt, and starts once the database is created
(the real PostgreSQL at 127.0.0.1:5432; compose starts outagewatch this way)."""

from __future__ import annotations

import asyncio
import signal
import sys
import uuid
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from sqlalchemy.engine import make_url

from tests.cli.test_database_faults import health, write_config
from tests.conftest import missing_real
from tests.store.conftest import POSTGRES_URL, _drop

pytestmark = pytest.mark.real


async def next_line(stream: asyncio.StreamReader, lines: list[str]) -> str:
    raw = await stream.readline()
    assert raw, "the daemon ended:\n" + "".join(lines)
    lines.append(raw.decode())
    return lines[-1]


@pytest.mark.timeout(120)
async def test_run_waits_for_a_database_created_later(tmp_path: Path) -> None:
    base = make_url(POSTGRES_URL)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        (await asyncpg.connect(admin, timeout=5)).terminate()
    except (OSError, asyncpg.PostgresError) as exc:
        missing_real(f"PostgreSQL at {base.host}:{base.port} is not reachable: {exc}")
    name = f"ow_later_{uuid.uuid4().hex[:12]}"
    config, port = write_config(tmp_path, base.set(database=name).render_as_string(False))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "outagewatch", "run", "-c", str(config),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while "attempt 1 failed" not in await next_line(proc.stderr, lines):
                pass
        assert f'database "{name}" does not exist' in lines[-1]
        assert sum("waiting for it" in line for line in lines) == 1  # said once
        async with aiohttp.ClientSession() as session:
            assert await health(session, port, "/healthz") == 200
            assert await health(session, port, "/readyz") == 503
            conn = await asyncpg.connect(admin, timeout=5)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()
            async with asyncio.timeout(60):
                while "answers after" not in await next_line(proc.stderr, lines):
                    pass
                while await health(session, port, "/readyz") != 200:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)  # another process: polling is all there is
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), timeout=30)
        log = "".join(lines) + rest.decode()
        print(log, file=sys.stderr)
        await _drop(name, admin)
    assert proc.returncode == 0
    assert "Traceback" not in log
    attempts = [line for line in lines if "attempt" in line and "failed, next in" in line]
    assert all(f"attempt {n} failed" in line for n, line in enumerate(attempts, 1))
