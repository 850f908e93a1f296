"""The read model: one answer to "what state is this service in", from the judgement and the
stored facts, read at a cost that follows what is asked for, not how much is monitored."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.states import Judged, Latest, ServiceStates, VantageState, state_of
from outagewatch.store import tokens
from tests.states.estates import T0, Estates, counting

RECENT = timedelta(seconds=90)
KEY = ("eu-de-1", "imap")


def judged(*states: tuple[str, VantageState], outage: bool = False) -> Judged:
    return Judged(dict(states), outage=outage, maintenance=False)


def test_the_judgement_wins_and_the_stored_facts_fill_in() -> None:
    bad = VantageState("bad", T0 - timedelta(minutes=3))
    state = state_of(
        KEY, judged(("fra", bad)), {"nyc": Latest(T0, bad=False)},
        reported_down=False, in_maintenance=False, now=T0, recent=RECENT,
    )  # fmt: skip
    assert (state.state, state.since) == ("bad", bad.since)
    assert state.vantages == {"fra": bad, "nyc": VantageState("ok")}


def test_without_a_judgement_a_recent_bad_sample_is_bad_and_an_old_one_is_not() -> None:
    recent = {"fra": Latest(T0 - timedelta(seconds=30), bad=True)}
    old = {"fra": Latest(T0 - timedelta(minutes=5), bad=True)}
    common: dict[str, Any] = {"reported_down": False, "in_maintenance": False, "now": T0}
    assert state_of(KEY, None, recent, recent=RECENT, **common).state == "bad"
    assert state_of(KEY, None, old, recent=RECENT, **common).state == "ok"
    assert state_of(KEY, None, {}, recent=RECENT, **common).state == "no data"


def test_an_incident_or_the_detector_makes_an_outage_and_a_window_maintenance() -> None:
    ok = {"fra": Latest(T0, bad=False)}
    assert state_of(KEY, None, ok, reported_down=True, in_maintenance=True, now=T0,
                    recent=RECENT).state == "outage"  # fmt: skip
    assert state_of(KEY, None, ok, reported_down=False, in_maintenance=True, now=T0,
                    recent=RECENT).state == "maintenance"  # fmt: skip
    out = judged(("fra", VantageState("outage", T0)), outage=True)
    assert state_of(KEY, out, {}, reported_down=False, in_maintenance=False, now=T0,
                    recent=RECENT).state == "outage"  # fmt: skip


def test_a_platform_version_changes_exactly_when_one_of_its_services_does() -> None:
    states = ServiceStates()
    states.monitor([KEY, ("us", "imap")])
    before = states.version("eu-de-1"), states.version("us")
    states.judged(KEY, judged(("fra", VantageState("ok"))))
    assert states.version("eu-de-1") == before[0] + 1 and states.version("us") == before[1]
    states.judged(KEY, judged(("fra", VantageState("ok"))))  # the same: no change
    assert states.version("eu-de-1") == before[0] + 1
    states.forget()
    assert states.judgement(KEY) is None and states.version("eu-de-1") == before[0] + 2


@pytest.fixture
async def api_of(tmp_path: Path) -> AsyncIterator[Any]:
    """Starts the app over an estate of 4 services a platform; a viewer's token with it."""
    estates = Estates(tmp_path)

    async def start(platforms: int) -> tuple[TestClient, AsyncEngine, dict[str, str]]:  # type: ignore[type-arg]
        served = await estates.start(platforms)
        async with served.engine.begin() as conn:
            token, _ = await tokens.create(conn, "viewer-alice", "viewer", T0)
        return served.client, served.engine, {"Authorization": f"Bearer {token}"}

    yield start
    await estates.close()


async def test_a_page_of_services_costs_the_same_at_200_and_at_3000(
    api_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    costs = []
    for platforms in (50, 750):  # 200 and 3,000 services
        client, engine, auth = await api_of(platforms)
        with counting(engine, monkeypatch) as counts:
            response = await client.get("/api/v1/services?limit=20", headers=auth)
            assert response.status == 200
            body = await response.json()
        assert len(body["items"]) == 20 and body["next_cursor"]
        costs.append(dict(counts))
        monkeypatch.undo()
    assert costs[0] == costs[1]
    assert costs[0]["states"] == 20 and costs[0]["samples"] == 20


async def test_the_pages_walk_every_service_once(api_of: Any) -> None:
    client, _, auth = await api_of(300)
    seen: list[str] = []
    states: Counter[str] = Counter()
    url = "/api/v1/services?limit=1000"
    while url:
        response = await client.get(url, headers=auth)
        assert response.status == 200
        body = await response.json()
        seen += [item["id"] for item in body["items"]]
        states.update(item["state"] for item in body["items"])
        cursor = body["next_cursor"]
        url = f"/api/v1/services?limit=1000&cursor={cursor}" if cursor else ""
    assert len(seen) == 1200 and len(set(seen)) == 1200 and seen == sorted(seen)
    refused = len(range(0, 1200, 7))  # every seventh sample was a refusal, and recent
    assert states == {"bad": refused, "ok": 1200 - refused}


async def test_a_bad_limit_or_cursor_is_a_400_naming_it(api_of: Any) -> None:
    client, _, auth = await api_of(2)
    for query, named in (("limit=0", "limit"), ("limit=1001", "limit"), ("limit=x", "limit"),
                         ("cursor=%%%", "cursor"), ("cursor=eyJhIjoxfQ", "cursor")):  # fmt: skip
        response = await client.get(f"/api/v1/services?{query}", headers=auth)
        assert response.status == 400, query
        assert (await response.json())["detail"].startswith(f"{named}:")
