"""When on-call hears of a certificate: pure functions of what was seen, what was told, `now`.

Once per certificate (its SHA-256 fingerprint) when it crosses ``warn_before`` and once when
it crosses ``critical_before``; once more when it is replaced after a warning (the all-clear;
the new certificate's own clock then starts from nothing). The expiry judged is the earliest
not-after of the presented chain: an intermediate that expires first breaks the service as
surely as the leaf.

The default ``warn_before`` is 21 days, or a third of the certificate's lifetime when that is
shorter: certificates of 47 or 90 days are renewed with about a third of their life left, so
a fixed 21 days would page for every healthy short-lived certificate. ``critical_before``
(7 days) never exceeds the warning lead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Literal

DEFAULT_WARN = timedelta(days=21)
DEFAULT_CRITICAL = timedelta(days=7)


class Level(IntEnum):
    FINE = 0
    WARN = 1
    CRITICAL = 2


@dataclass(frozen=True)
class Policy:
    warn_before: timedelta | None = None  # None: 21 days or a third of the lifetime
    critical_before: timedelta = DEFAULT_CRITICAL


@dataclass(frozen=True)
class Seen:
    """The certificate a service presents now (from its latest probe at any vantage)."""

    fingerprint: str
    not_before: datetime  # the leaf's
    expires: datetime  # the earliest not-after of the chain


@dataclass(frozen=True)
class Told:
    """What on-call was last told about the service's certificate."""

    fingerprint: str
    level: Level


Kind = Literal["certificate_warn", "certificate_critical", "certificate_replaced"]


@dataclass(frozen=True)
class CertificateDecision:
    """What to tell on-call of a service's certificate now, and what to remember."""

    remember: Told  # the new state to store
    tell: tuple[Kind, ...]  # mails to send, in order


def leads(seen: Seen, policy: Policy) -> tuple[timedelta, timedelta]:
    """How long before expiry the warning and the critical warning are due."""
    lifetime = seen.expires - seen.not_before
    warn = policy.warn_before or min(DEFAULT_WARN, lifetime / 3)
    return warn, min(policy.critical_before, warn)


def level(seen: Seen, policy: Policy, now: datetime) -> Level:
    warn, critical = leads(seen, policy)
    left = seen.expires - now
    if left <= critical:
        return Level.CRITICAL
    return Level.WARN if left <= warn else Level.FINE


def decide(
    seen: Seen, told: Told | None, policy: Policy, now: datetime
) -> CertificateDecision | None:
    """What to tell and remember now; None when nothing changed."""
    current = level(seen, policy, now)
    tell: list[Kind] = []
    previous = Level.FINE
    if told is not None and told.fingerprint == seen.fingerprint:
        previous = told.level
    elif told is not None and told.level > Level.FINE:
        tell.append("certificate_replaced")
    if current > previous:
        tell.append("certificate_critical" if current == Level.CRITICAL else "certificate_warn")
    remember = Told(seen.fingerprint, max(current, previous))
    if remember == told and not tell:
        return None
    return CertificateDecision(remember, tuple(tell))
