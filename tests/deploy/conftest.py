"""Paths of the deploy files and promtool, which CI installs (Debian's prometheus package)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import missing_real

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARD = DEPLOY / "grafana" / "outagewatch.json"


@pytest.fixture(scope="session")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        missing_real("promtool is not installed (Debian: apt-get install prometheus)")
    assert found is not None
    return found
