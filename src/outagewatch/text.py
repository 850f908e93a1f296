"""Making server-supplied text safe to show in one line of a log, a metric or a terminal."""

from __future__ import annotations

MAX_DETAIL = 200


def one_line(text: str, limit: int = MAX_DETAIL) -> str:
    """Printable ASCII only, one line, bounded: servers may send anything at all."""
    cleaned = "".join(ch if " " <= ch <= "~" else " " for ch in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"


def decode(data: bytes, limit: int = MAX_DETAIL) -> str:
    return one_line(data[: limit * 2].decode("utf-8", "replace"), limit)
