"""The SMTP reply budget (probes/smtp_replies.py) as the bytes of a reply may arrive."""

from __future__ import annotations

import pytest

from outagewatch.probes.smtp_replies import MAX_REPLY_LINE, MAX_REPLY_LINES, ReplyBudget


def spend(*chunks: bytes) -> str | None:
    budget = ReplyBudget()
    for chunk in chunks:
        if (problem := budget.spend(chunk)) is not None:
            return problem
    return None


def reply(lines: int, width: int = 10) -> bytes:
    text = b"x" * (width - len(b"250-\r\n"))
    return b"".join(b"250-" + text + b"\r\n" for _ in range(lines - 1)) + b"250 " + text + b"\r\n"


def in_bytes(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@pytest.mark.parametrize("cut", ["whole", "bytes"])
def test_replies_within_the_budget_pass(cut: str) -> None:
    data = reply(MAX_REPLY_LINES) + reply(1, MAX_REPLY_LINE) + reply(MAX_REPLY_LINES)
    assert spend(*(in_bytes(data) if cut == "bytes" else [data])) is None


@pytest.mark.parametrize("cut", ["whole", "bytes"])
def test_a_reply_of_one_line_more_is_over(cut: str) -> None:
    data = reply(MAX_REPLY_LINES + 1)
    problem = spend(*(in_bytes(data) if cut == "bytes" else [data]))
    assert problem == f"the server sent a reply of more than {MAX_REPLY_LINES} lines"


def test_a_line_one_byte_longer_is_over_before_it_ends() -> None:
    problem = spend(b"220 ", b"x" * (MAX_REPLY_LINE - 4), b"x")
    assert problem == f"the server sent a reply line longer than {MAX_REPLY_LINE} bytes"


def test_a_chunk_is_read_to_the_end_of_its_reply_only() -> None:
    """What follows a whole reply in the same chunk is nobody's answer: not counted."""
    budget = ReplyBudget()
    assert budget.spend(b"220 ready\r\n" + b"250-flood\r\n" * 10_000) is None
    assert budget.spend(reply(MAX_REPLY_LINES)) is None
