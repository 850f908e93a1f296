"""Shared fixtures: TLS material and the rule for tests of real external servers."""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade

REQUIRE_REAL = os.environ.get("OUTAGEWATCH_REQUIRE_REAL") == "1"


def missing_real(what: str) -> None:
    """A real server (Dovecot, PostgreSQL) is not available: skip locally, fail under CI.

    .ci/run sets OUTAGEWATCH_REQUIRE_REAL=1 so that these tests can never pass by skipping.
    """
    if REQUIRE_REAL:
        pytest.fail(f"{what} (OUTAGEWATCH_REQUIRE_REAL=1, so this cannot be skipped)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1", "::1").configure_cert(ctx)
    return ctx


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
async def migrated_sqlite(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A fresh SQLite database file, migrated to the newest revision."""
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}")
    await upgrade(engine)
    yield engine
    await engine.dispose()
