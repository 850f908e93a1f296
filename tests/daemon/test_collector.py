"""The collector's settings after the daemon's one-time freeze (daemon/collector.py)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from outagewatch.daemon.collector import FULL_PASS_AFTER, freeze_long_lived_objects


@pytest.fixture
def collector_restored() -> Iterator[None]:
    """A collector as CPython starts it (a daemon run earlier in this process may have
    frozen), and as it was afterwards."""
    threshold = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, 10, 10)
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector_restored")
def test_the_freeze_keeps_what_lives_and_makes_full_passes_rarer() -> None:
    assert gc.get_freeze_count() == 0

    freeze_long_lived_objects()

    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (700, 10, FULL_PASS_AFTER)
