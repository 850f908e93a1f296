"""The sender's pure decisions: backoff, and what each outcome does to the row."""

from __future__ import annotations

from datetime import timedelta

import pytest

from outagewatch.notify.message import build_message
from outagewatch.notify.outbox import Claimed
from outagewatch.notify.sender import AttemptVerdict, Outcome, backoff, decide
from tests.notify.conftest import T0

BASE, CAP = timedelta(seconds=30), timedelta(minutes=15)


def claimed(attempts: int = 1, refused: dict[str, str] | None = None) -> Claimed:
    return Claimed(
        id=1,
        thread="incident:7",
        incident_id=7,
        kind="detected",
        audience="customer",
        channel="mail",
        recipients=("a@x.io", "b@x.io", "c@x.io"),
        pending_recipients=("a@x.io", "b@x.io", "c@x.io"),
        subject="[OX Cloud EU de-1] [Sev 2] Outage: IMAP — detected",
        body_text="IMAP is down.",
        body_html=None,
        message_id="<OW-20261123-0007.0.detected@example.net>",
        in_reply_to=None,
        references=None,
        attempts=attempts,
        created_at=T0,
        claimed_at=T0,
        claimed_by="fra-1",
        refused=refused or {},
    )


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 900), (7, 900), (10_000, 900)],
)
def test_backoff_doubles_up_to_the_cap(attempts: int, seconds: int) -> None:
    assert backoff(attempts, BASE, CAP) == timedelta(seconds=seconds)


ALL = ("a@x.io", "b@x.io", "c@x.io")
AT_60 = T0 + timedelta(seconds=60)


@pytest.mark.parametrize(
    ("outcome", "verdict"),
    [
        (Outcome(accepted=ALL), AttemptVerdict("sent")),
        (Outcome(accepted=ALL[:2], refused={"c@x.io": "550"}), AttemptVerdict("partial")),
        (
            Outcome(accepted=ALL[:1], refused={"c@x.io": "550"}, deferred={"b@x.io": "451 x"}),
            AttemptVerdict("retry", ("b@x.io",), AT_60, "deferred b@x.io: 451 x"),
        ),
        (
            Outcome(refused=dict.fromkeys(ALL, "550")),
            AttemptVerdict("failed", (), None, "every recipient was refused"),
        ),
        (
            Outcome(error="connect: refused"),
            AttemptVerdict("retry", ALL, AT_60, "connect: refused"),
        ),
        (
            Outcome(refused={"a@x.io": "550"}, error="data: 451 later"),
            AttemptVerdict("retry", ALL[1:], AT_60, "data: 451 later"),
        ),
        (
            Outcome(error="data: 554 spam", permanent=True),
            AttemptVerdict("failed", (), None, "data: 554 spam"),
        ),
    ],
)
def test_each_outcome_decides_the_rows_fate(outcome: Outcome, verdict: AttemptVerdict) -> None:
    assert decide(claimed(attempts=2), outcome, T0, BASE, CAP) == verdict


def test_a_refusal_of_an_earlier_attempt_makes_the_result_partial() -> None:
    item = claimed(refused={"a@x.io": "550 no such user"})
    assert decide(item, Outcome(accepted=ALL[1:]), T0, BASE, CAP) == AttemptVerdict("partial")


def test_a_plain_message_has_one_part_and_no_reply_headers() -> None:
    msg = build_message(claimed(), "noc@example.net")
    assert msg.get_content_type() == "text/plain"
    assert msg["In-Reply-To"] is None and msg["References"] is None
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg.as_bytes().isascii()
