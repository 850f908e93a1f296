"""One current notification, not a pile: which undelivered rows a newer one supersedes.

While the relay (or a webhook, a pager) cannot be reached, the incident keeps deciding:
hourly updates fall due, engineers post messages, on-call is reminded. Sent one by one
when the relay is back, they would arrive as a burst of stale mail. So a newer notice of
the same stream — thread (an incident), audience and channel — supersedes the rows of that
stream that are still ``pending``, and carries on everything they would have told (their
news, in order, with their times) and how many notices they stood for.

What never moves: "detected" and "restored" are not superseded, and a newer row never
jumps over one of them, so the list still hears them in order. A row being sent right now
(``sending``) may already be at the relay: it is never superseded either, and nothing
before it is.

Pure: the outbox reads the rows, this decides, the outbox applies it with compare-and-set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

# The kinds each kind supersedes while they are undelivered. A pending "restored" takes
# the pending updates (and says what they would have said); reminders collapse into one.
SUPERSEDES: Mapping[str, frozenset[str]] = {
    "update": frozenset({"update"}),
    "restored": frozenset({"update"}),
    "oncall_repeat": frozenset({"oncall_repeat"}),
}


class News(NamedTuple):
    """One thing the recipients are told: an engineer's words, a change of scope or ETR."""

    at: datetime
    text: str


@dataclass(frozen=True)
class Undelivered:
    """A row of the stream not yet delivered (``pending`` or ``sending``), oldest first."""

    id: int
    kind: str
    state: str
    attempts: int  # the row's version: a claim increments it
    news: tuple[News, ...] = ()
    stands_for: int = 1


@dataclass(frozen=True)
class Supersession:
    """What a new row of a stream takes over: the rows it supersedes and what they told."""

    superseded: tuple[Undelivered, ...] = ()
    news: tuple[News, ...] = ()  # what the superseded rows told, in order
    stands_for: int = 0  # how many notices they stood for

    @classmethod
    def of(cls, rows: Sequence[Undelivered]) -> Supersession:
        return cls(
            tuple(rows),
            tuple(item for row in rows for item in row.news),
            sum(row.stands_for for row in rows),
        )

    def count(self, kind: str) -> int:
        """How many superseded rows were of ``kind`` (updates lose their numbers)."""
        return sum(1 for row in self.superseded if row.kind == kind)


def supersession_for(kind: str, undelivered: Sequence[Undelivered]) -> Supersession:
    """What a new notice of ``kind`` supersedes among the undelivered rows of its stream:
    the trailing run of pending rows of a kind it takes."""
    takes = SUPERSEDES.get(kind, frozenset())
    run: list[Undelivered] = []
    for row in reversed(undelivered):
        if row.state != "pending" or row.kind not in takes:
            break
        run.append(row)
    run.reverse()
    return Supersession.of(run)


def news_to_json(news: Sequence[tuple[datetime, str]]) -> list[dict[str, str]]:
    return [{"at": at.isoformat(), "text": text} for at, text in news]


def news_from_json(value: Any) -> tuple[News, ...]:
    """Rows written before news was kept have none (NULL)."""
    return tuple(News(datetime.fromisoformat(i["at"]), str(i["text"])) for i in value or ())
