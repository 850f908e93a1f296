"""The shipped example config, parsed afresh for each test that edits it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.config.example import EXAMPLE


@pytest.fixture
def example() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    return data
