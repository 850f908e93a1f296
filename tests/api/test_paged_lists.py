"""Every list of the API a page at a time, read in SQL: a page costs the same statements
whether 30 or 300 items exist, and following ``next_cursor`` walks each item once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from yarl import URL

from outagewatch.api.paging import encode
from outagewatch.cli import client as client_module
from outagewatch.cli.client import Client
from outagewatch.store.tables import incidents, maintenances, notifications

from .harness import Api, start_api
from .test_routes import REPORT, call

WINDOW = {"platform": "eu-de-1", "kind": "emergency", "starts_at": "2026-11-23T11:00:00Z",
          "ends_at": "2026-11-23T12:00:00Z",
          "expected_impact": "Short login failures."}  # fmt: skip


@pytest.fixture
async def api(migrated_sqlite: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    harness = await start_api(migrated_sqlite, tmp_path)
    yield harness
    await harness.client.close()


async def _copies(api: Api, table: Any, count: int, unique: str) -> None:
    """``count`` more rows like the first one of ``table`` (its unique column made new)."""
    async with api.engine.begin() as conn:
        row = dict((await conn.execute(select(table).limit(1))).one()._mapping)
        del row["id"]
        await conn.execute(
            insert(table), [{**row, unique: f"{row[unique]}-{count}-{n}"} for n in range(count)]
        )


async def _statements(api: Api, path: str) -> tuple[int, Any]:
    counted = [0]

    def count(*_: object) -> None:
        counted[0] += 1

    event.listen(api.engine.sync_engine, "before_cursor_execute", count)
    try:
        status, body = await call(api, "GET", path, role="viewer")
    finally:
        event.remove(api.engine.sync_engine, "before_cursor_execute", count)
    assert status == 200, body
    return counted[0], body


async def _walk(api: Api, path: str, limit: int) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        glue = "&" if "?" in path else "?"
        url = f"{path}{glue}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        status, body = await call(api, "GET", url, role="viewer")
        assert status == 200, body
        items += body["items"]
        assert len(body["items"]) <= limit
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_each_list_costs_the_same_at_30_and_at_300_items(api: Api) -> None:
    status, created = await call(api, "POST", "/api/v1/incidents", json=REPORT)
    assert status == 201
    status, _ = await call(api, "POST", "/api/v1/maintenances", json=WINDOW)
    assert status == 201
    lists = ("/api/v1/incidents?limit=10", "/api/v1/maintenances?limit=10",
             f"/api/v1/incidents/{created['id']}/notifications?limit=10")  # fmt: skip
    await _statements(api, lists[0])  # the token's first use is written down once
    costs = []
    for more in (29, 270):
        await _copies(api, incidents, more, "ref")
        await _copies(api, maintenances, more, "ref")
        await _copies(api, notifications, more, "message_id")
        found = {path: await _statements(api, path) for path in lists}
        assert all(len(body["items"]) == 10 and body["next_cursor"] for _, body in found.values())
        costs.append({path: statements for path, (statements, _) in found.items()})
    assert costs[0] == costs[1]


async def test_the_pages_walk_every_item_once_in_order(api: Api) -> None:
    status, created = await call(api, "POST", "/api/v1/incidents", json=REPORT)
    await call(api, "POST", "/api/v1/maintenances", json=WINDOW)
    for table, unique in ((incidents, "ref"), (maintenances, "ref"),
                          (notifications, "message_id")):  # fmt: skip
        await _copies(api, table, 40, unique)
    walked = await _walk(api, "/api/v1/incidents", 7)
    ids = [i["id"] for i in walked]
    assert len(ids) == 41 and ids == sorted(set(ids), reverse=True)
    windows = await _walk(api, "/api/v1/maintenances?state=in_progress", 6)
    assert len({w["ref"] for w in windows}) == len(windows)
    everything = await _walk(api, "/api/v1/maintenances", 6)
    assert len({w["ref"] for w in everything}) == len(everything) == 41
    mails = await _walk(api, f"/api/v1/incidents/{created['id']}/notifications", 9)
    numbers = [m["id"] for m in mails]
    assert numbers == sorted(set(numbers)) and len(numbers) > 40
    status, detail = await call(api, "GET", f"/api/v1/incidents/{created['id']}", role="viewer")
    assert status == 200 and len(detail["notifications"]) == min(100, len(numbers))


async def test_a_bad_cursor_is_a_400_naming_it(api: Api) -> None:
    for path in ("/api/v1/incidents", "/api/v1/maintenances"):
        for query in ("cursor=%%%", "cursor=WyJ4Il0", "limit=0"):  # WyJ4Il0: ["x"]
            status, body = await call(api, "GET", f"{path}?{query}", role="viewer")
            assert status == 400, (path, query)
            assert body["detail"].split(":")[0] in ("cursor", "limit")


async def test_the_command_line_client_follows_next_cursor(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await call(api, "POST", "/api/v1/incidents", json=REPORT)
    await _copies(api, incidents, 40, "ref")
    monkeypatch.setattr(client_module, "PAGE", 7)
    url = URL(str(api.client.make_url("/")))
    async with aiohttp.ClientSession() as session:
        found = await Client(session, url, api.tokens["viewer"]).list_incidents()
    assert len(found) == 41 and len({i["id"] for i in found}) == 41


async def test_a_cursor_with_numbers_out_of_range_is_a_400(api: Api) -> None:
    await call(api, "POST", "/api/v1/incidents", json=REPORT)
    for path, cursor in (
        ("/api/v1/incidents", encode([10**30])),
        ("/api/v1/incidents", encode([True])),
        ("/api/v1/maintenances", encode(["2026-01-01T00:00:00+00:00", 10**30])),
        ("/api/v1/maintenances", encode(["9999-12-31T23:59:59+14:00", 1])),
        ("/api/v1/incidents/1/notifications", encode([-(10**30)])),
    ):
        status, body = await call(api, "GET", f"{path}?cursor={cursor}", role="viewer")
        assert status in (200, 400), (path, status, body)
        if status == 400:
            assert body["detail"].startswith("cursor:")
