"""The pure rule of supersession: which undelivered rows of a stream a newer notice takes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from outagewatch.notify.supersession import (
    News,
    Supersession,
    Undelivered,
    news_from_json,
    news_to_json,
    supersession_for,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def row(
    id_: int, kind: str, state: str = "pending", *news: str, stands_for: int = 1
) -> Undelivered:
    return Undelivered(id_, kind, state, 0, tuple(News(T0, t) for t in news), stands_for)


@pytest.mark.parametrize(
    ("kind", "stream", "taken"),
    [
        ("update", [], []),
        ("update", [row(1, "detected"), row(2, "update"), row(3, "update")], [2, 3]),
        (
            "update",
            [row(1, "update", "sending"), row(2, "update")],
            [2],
        ),  # not the one at the relay
        ("update", [row(1, "update"), row(2, "update", "sending")], []),  # nor what is before it
        ("update", [row(1, "update"), row(2, "restored")], []),  # never jumps over "restored"
        ("restored", [row(1, "detected"), row(2, "update"), row(3, "update")], [2, 3]),
        ("detected", [row(1, "update")], []),  # "detected" supersedes nothing
        ("oncall_repeat", [row(1, "oncall"), row(2, "oncall_repeat")], [2]),
        ("oncall_repeat", [row(1, "oncall")], []),  # the first on-call mail stays
        ("maintenance_started", [row(1, "maintenance_announced")], []),
    ],
)
def test_what_a_notice_supersedes(kind: str, stream: list[Undelivered], taken: list[int]) -> None:
    assert [r.id for r in supersession_for(kind, stream).superseded] == taken


def test_the_plan_carries_their_news_in_order_and_their_count() -> None:
    stream = [row(1, "detected"), row(2, "update", "pending", "a", "b"),
              row(3, "update", "pending", "c", stands_for=2)]  # fmt: skip
    found = supersession_for("update", stream)
    assert [n.text for n in found.news] == ["a", "b", "c"]
    assert found.stands_for == 3
    assert found.count("update") == 2
    assert Supersession.of([]) == Supersession()


def test_news_survive_the_database_round_trip() -> None:
    news = (News(T0, "The storage backend is being failed over."),)
    assert news_from_json(news_to_json(news)) == news
    assert news_from_json(None) == ()  # rows written before news were kept
