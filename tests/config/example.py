"""Where the shipped example config is, and the problems a config is refused with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from outagewatch.config import ConfigError, parse_config

EXAMPLE = Path(__file__).parents[2] / "config" / "outagewatch.example.yaml"


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems
