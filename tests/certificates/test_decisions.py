"""Certificate warnings with a controlled clock: once per threshold, again when replaced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outagewatch.certificates.decisions import Level, Policy, Seen, Told, decide, leads, level

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def cert(days: int, fingerprint: str = "a" * 64, issued: datetime = T0) -> Seen:
    return Seen(fingerprint, issued, issued + days * DAY)


@pytest.mark.parametrize(
    ("lifetime", "warn_days"),
    [(365, 21), (90, 21), (47, 47 / 3), (6, 2)],
)
def test_default_warning_lead(lifetime: int, warn_days: float) -> None:
    warn, critical = leads(cert(lifetime), Policy())
    assert warn == timedelta(days=warn_days)
    assert critical == min(timedelta(days=7), warn)


def test_configured_leads_win() -> None:
    assert leads(cert(47), Policy(warn_before=30 * DAY)) == (30 * DAY, 7 * DAY)


def run(seen: Seen, days: list[float], told: Told | None = None) -> tuple[list[str], Told | None]:
    """Step the clock through ``days`` after issue, as the engine would, remembering."""
    mails: list[str] = []
    for day in days:
        decision = decide(seen, told, Policy(), seen.not_before + day * DAY)
        if decision is not None:
            mails.extend(decision.tell)
            told = decision.remember
    return mails, told


def test_once_per_threshold() -> None:
    mails, told = run(cert(90), [1, 60, 68, 69, 69.5, 80, 83, 84, 88, 95])
    assert mails == ["certificate_warn", "certificate_critical"]
    assert told is not None and told.level == Level.CRITICAL


def test_expired_is_critical_even_unseen_before() -> None:
    mails, _ = run(cert(90), [91])
    assert mails == ["certificate_critical"]


def test_replaced_after_a_warning_then_the_new_one_counts_afresh() -> None:
    _, told = run(cert(90), [75])
    assert told == Told("a" * 64, Level.WARN)
    renewed = cert(90, "b" * 64, issued=T0 + 70 * DAY)
    mails, told = run(renewed, [5, 10], told)
    assert mails == ["certificate_replaced"]
    assert told == Told("b" * 64, Level.FINE)
    mails, _ = run(renewed, [70, 85], told)
    assert mails == ["certificate_warn", "certificate_critical"]


def test_replaced_without_warning_is_silent() -> None:
    _, told = run(cert(90), [10])
    mails, told = run(cert(90, "b" * 64), [20], told)
    assert mails == [] and told == Told("b" * 64, Level.FINE)


def test_replaced_by_one_already_due() -> None:
    _, told = run(cert(90), [80])
    mails, _ = run(cert(10, "b" * 64, issued=T0 + 79 * DAY), [8], told)
    assert mails == ["certificate_replaced", "certificate_critical"]


def test_nothing_new_is_no_decision() -> None:
    seen = cert(365)
    decision = decide(seen, None, Policy(), T0 + DAY)
    assert decision is not None and decision.tell == ()
    assert decide(seen, decision.remember, Policy(), T0 + 2 * DAY) is None
    assert level(seen, Policy(), T0 + 364 * DAY) == Level.CRITICAL
