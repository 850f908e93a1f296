"""The pure health rules of the relays: when to check a failing relay, which one to use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outagewatch.notify.relays import Health, after_failure, checks_due, choose

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
S = timedelta(seconds=1)
CHECK, BASE, CAP = 30 * S, 1 * S, 900 * S


@pytest.mark.parametrize(
    ("failures", "wait"),
    [(1, 1), (2, 2), (3, 4), (5, 16), (6, 30), (20, 30)],  # the backoff, then every 30 s
)
def test_a_failing_relay_is_checked_after_the_backoff_but_within_30s(
    failures: int, wait: int
) -> None:
    health = Health()
    for _ in range(failures):
        health = after_failure(health, T0, CHECK, BASE, CAP)
    assert health.failing_since == T0 and health.failures == failures
    assert health.next_check_at == T0 + wait * S
    assert checks_due([health], T0 + wait * S - S / 10) == []
    assert checks_due([health], T0 + wait * S) == [0]


def test_failing_since_is_the_first_failure() -> None:
    health = after_failure(Health(), T0, CHECK, BASE, CAP)
    assert after_failure(health, T0 + 60 * S, CHECK, BASE, CAP).failing_since == T0
    assert Health().up and not health.up


@pytest.mark.parametrize(
    ("failing_for", "chosen"),
    [
        ((None, None), 0),
        ((299, None), 0),  # not yet failover_after
        ((300, None), 1),  # the fallback
        ((300, 300), 0),  # every relay failed over: back to the primary
        ((600, 10), 1),
        ((None, 600), 0),  # the primary answered again: used again
    ],
)
def test_the_relay_to_use(failing_for: tuple[int | None, int | None], chosen: int) -> None:
    now = T0 + timedelta(hours=1)
    health = [Health() if s is None else Health(now - s * S, 3, now + S) for s in failing_for]
    assert choose(health, now, timedelta(minutes=5)) == chosen
