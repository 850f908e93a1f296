from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from outagewatch.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("15m", 900), ("1h", 3600), ("1h30m", 5400), ("2d", 172800)],
)
def test_parses_operator_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "30", "s", "15 minutes", "1h 30m", "-5s", "1.5.5s", "m15"])
def test_rejects_anything_else_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match="must be a duration like 500ms"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**9))
def test_format_is_the_inverse_of_parse(ms: int) -> None:
    value = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(value)) == value
