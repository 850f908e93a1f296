"""What the daemon does not load until it needs it (issue 13: 22 MB of a 10,000-service
daemon): alembic while the database is at head (tests/store/test_migrate_at_head.py),
cryptography where nothing names TLS (tests/probes/test_x509_preload.py), asyncpg on SQLite."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["alembic", "cryptography", "asyncpg", "mako"])
def test_importing_the_daemon_leaves_out(module: str) -> None:
    code = "import sys, outagewatch.cli.main, outagewatch.daemon.process\nprint(*sys.modules)"
    loaded = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert module not in loaded
