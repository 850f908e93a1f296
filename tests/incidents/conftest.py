"""The controlled-clock world of the incident scenarios (world.py), one per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from outagewatch.sim import SmtpServer

from .world import World, config_for


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with SmtpServer() as sink:
        w = World(sink, config_for(sink.port, tmp_path / "ow.db"))
        await w.start()
        try:
            yield w
        finally:
            await w.close()
