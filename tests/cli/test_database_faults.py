"""Every command that opens the database, against each way the database can fail: one line
naming the database (never its password) and what to do, the right exit status, and never a
traceback. ``run`` waits for a database that does not answer (tests/daemon/test_waiting.py
shows it starting once it does) and ends with exit 2 on what waiting cannot mend."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.conftest import missing_real
from tests.daemon.test_daemon_e2e import free_port
from tests.store.conftest import POSTGRES_URL

PASSWORD = "s3cret-pw"  # in every PostgreSQL URL below: it must never be printed
EXIT_INPUT = 2
ONE_SHOT = {
    "db upgrade": ["db", "upgrade"],
    "token create": ["token", "create", "--name", "alice", "--role", "admin"],
    "token list": ["token", "list"],
    "token revoke": ["token", "revoke", "--name", "alice"],
    "report": ["report", "--month", "2026-10"],
}


def unreachable(tmp_path: Path) -> str:
    """PostgreSQL on a loopback port where nothing listens: connection refused."""
    return f"postgresql+asyncpg://outagewatch:{PASSWORD}@127.0.0.1:{free_port()}/outagewatch"


async def refused_login(tmp_path: Path) -> str:
    """The real PostgreSQL, asked for a role that does not exist."""
    base = make_url(POSTGRES_URL)
    try:
        conn = await asyncpg.connect(
            base.set(drivername="postgresql").render_as_string(hide_password=False), timeout=5
        )
    except (OSError, asyncpg.PostgresError) as exc:
        missing_real(f"PostgreSQL at {base.host}:{base.port} is not reachable: {exc}")
    await conn.close()
    return base.set(username="ow_no_such_role", password=PASSWORD).render_as_string(
        hide_password=False
    )


def never_migrated(tmp_path: Path) -> str:
    """An SQLite file that exists but has no outagewatch tables."""
    path = tmp_path / "never.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE unrelated (x INTEGER)")
    return f"sqlite+aiosqlite:///{path}"


def too_new(tmp_path: Path) -> str:
    """A database a newer outagewatch migrated: its revision is unknown to this code."""
    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
    return f"sqlite+aiosqlite:///{path}"


# fault -> (how to make it, expected exit per one-shot command, words the line must say)
FAULTS: dict[str, tuple[Callable[..., object], dict[str, int], str]] = {
    "unreachable": (unreachable, {}, "does not answer"),
    "refused login": (refused_login, {}, "refused the login"),
    # db upgrade and token migrate a fresh database (as the compose set-up relies on);
    # report only reads and says what to do. No token named alice exists to revoke.
    "never migrated": (
        never_migrated,
        {"db upgrade": 0, "token create": 0, "token list": 0, "token revoke": EXIT_INPUT},
        "not migrated",
    ),
    "newer revision": (too_new, {}, "9999_from_the_future"),
}


def write_config(tmp_path: Path, database: str) -> tuple[Path, int]:
    port = free_port()
    path = tmp_path / "ow.yaml"
    path.write_text(yaml.safe_dump({
        "vantage": "fra",
        "database": database,
        "api": {"listen": f"127.0.0.1:{port}"},
        "platforms": {"eu-de-1": {
            "name": "OX Cloud EU de-1",
            "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
            "services": {"imap": {"protocol": "imap", "host": "127.0.0.1", "port": free_port()}},
        }},
    }))  # fmt: skip
    return path, port


async def make_database(fault: str, tmp_path: Path) -> str:
    made = FAULTS[fault][0](tmp_path)
    return str(await made if asyncio.iscoroutine(made) else made)


async def outagewatch(*argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "outagewatch", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def assert_one_line_about(err: str, database: str, words: str) -> None:
    assert err.count("\n") == 1, err
    masked = make_url(database).render_as_string(hide_password=True)
    assert err.startswith(f"database {masked}: "), err
    assert words in err, err


@pytest.mark.parametrize("command", list(ONE_SHOT))
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_one_shot_commands(fault: str, command: str, tmp_path: Path) -> None:
    database = await make_database(fault, tmp_path)
    config, _ = write_config(tmp_path, database)
    status, out, err = await outagewatch(*ONE_SHOT[command], "-c", str(config))
    expected = FAULTS[fault][1].get(command, EXIT_INPUT)
    assert status == expected, (out, err)
    assert "Traceback" not in out + err
    assert PASSWORD not in out + err
    if expected == EXIT_INPUT and not (fault == "never migrated" and command == "token revoke"):
        assert out == ""
        assert_one_line_about(err, database, FAULTS[fault][2])


@pytest.mark.parametrize("fault", ["refused login", "newer revision"])
async def test_run_ends_with_one_line_on_what_waiting_cannot_mend(
    fault: str, tmp_path: Path
) -> None:
    database = await make_database(fault, tmp_path)
    config, _ = write_config(tmp_path, database)
    status, out, err = await outagewatch("run", "-c", str(config))
    assert status == EXIT_INPUT, err
    assert "Traceback" not in out + err
    assert PASSWORD not in out + err
    last = err.splitlines()[-1]
    assert_one_line_about(last + "\n", database, FAULTS[fault][2])


async def health(session: aiohttp.ClientSession, port: int, path: str) -> int | None:
    try:
        async with session.get(f"http://127.0.0.1:{port}{path}") as response:
            return response.status
    except aiohttp.ClientError:
        return None  # not listening yet


@pytest.mark.parametrize("fault", ["unreachable", "never migrated"])
async def test_run_keeps_going(fault: str, tmp_path: Path) -> None:
    """Unreachable: it waits, alive but not ready. Never migrated: it migrates and starts."""
    database = await make_database(fault, tmp_path)
    config, port = write_config(tmp_path, database)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "outagewatch", "run", "-c", str(config),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    ready = 503 if fault == "unreachable" else 200
    try:
        async with aiohttp.ClientSession() as session, asyncio.timeout(30):
            while await health(session, port, "/readyz") != ready:  # noqa: ASYNC110
                await asyncio.sleep(0.1)  # another process: polling is all there is
            assert await health(session, port, "/healthz") == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    text = out.decode() + err.decode()
    assert proc.returncode == 0, text
    assert "Traceback" not in text
    assert PASSWORD not in text
    if fault == "unreachable":
        assert "waiting for it" in text and "attempt 1 failed" in text, text
