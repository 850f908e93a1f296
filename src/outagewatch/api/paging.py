"""Paged lists: ``?limit=`` (default 100, at most 1,000) and an opaque ``cursor`` that the
previous page's ``next_cursor`` gave. A cursor names the last item of that page, so a page
costs what it holds, and items added or removed meanwhile neither repeat nor skip others."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class PagingError(ValueError):
    """A ``limit`` or ``cursor`` that cannot be used; the message names which and why."""


@dataclass(frozen=True)
class Page:
    limit: int
    after: tuple[Any, ...] | None  # the sort key of the previous page's last item

    @classmethod
    def of(cls, request: web.Request) -> Page:
        raw = request.query.get("limit")
        limit = DEFAULT_LIMIT
        if raw is not None:
            if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
                raise PagingError(f"limit: must be a whole number from 1 to {MAX_LIMIT}")
            limit = int(raw)
        cursor = request.query.get("cursor")
        return cls(limit, decode(cursor) if cursor else None)


def encode(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[Any, ...]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise PagingError("cursor: not one this API gave out") from None
    if not isinstance(key, list) or not all(_part(k) for k in key):
        raise PagingError("cursor: not one this API gave out")
    return tuple(key)


def _part(value: object) -> bool:
    """A string, or a whole number an id column holds (PostgreSQL's integer is 32 bits)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, str) or (isinstance(value, int) and 0 <= value < 2**31)


def following(key: Sequence[Any] | None, more: bool) -> str | None:
    """The ``next_cursor`` of a page: the last item's sort key when more items follow."""
    return encode(key) if more and key is not None else None


def int_after(page: Page) -> int | None:
    """The cursor of a list ordered by a number (an id)."""
    if page.after is None:
        return None
    if len(page.after) != 1 or not isinstance(page.after[0], int):
        raise PagingError("cursor: not one this API gave out")
    return page.after[0]


def moment_and_id(after: tuple[Any, ...] | None) -> tuple[datetime, int] | None:
    """The cursor of a list ordered by a time, then an id (as ``[ISO 8601, id]``)."""
    if after is None:
        return None
    try:
        moment, number = after
        at = datetime.fromisoformat(str(moment))
        if at.tzinfo is None or not isinstance(number, int):
            raise ValueError(moment)
        at.astimezone(UTC)  # a moment that exists in UTC too (not 9999-12-31 at +14:00)
    except (TypeError, ValueError, OverflowError):
        raise PagingError("cursor: not one this API gave out") from None
    return at, number
