"""The maintenance routes through a real aiohttp server (the harness clock: Monday 10:00 UTC)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.store.tables import notifications

from .harness import Api, start_api
from .test_routes import call

PLANNED = {
    "platform": "eu-de-1", "services": ["imap"], "kind": "planned",
    "starts_at": "2026-11-26T10:00:00Z", "ends_at": "2026-11-26T12:00:00Z",
    "expected_impact": "IMAP unavailable for up to 10 minutes.",
}  # fmt: skip


@pytest.fixture
async def api(migrated_sqlite: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    harness = await start_api(migrated_sqlite, tmp_path)
    yield harness
    await harness.client.close()


async def test_announce_list_cancel(api: Api) -> None:
    status, created = await call(api, "POST", "/api/v1/maintenances", json=PLANNED)
    assert status == 201, created
    assert created["ref"] == "MW-20261123-0001" and created["state"] == "scheduled"
    assert created["lead_time_seconds"] == 3 * 86400
    async with api.engine.connect() as conn:
        rows = (await conn.execute(select(notifications.c.kind, notifications.c.recipients))).all()
    assert [(k, list(r)) for k, r in rows] == [
        ("maintenance_announced", ["oxcloud-de-1@open-xchange.com"])
    ]
    status, listing = await call(api, "GET", "/api/v1/maintenances?state=scheduled", role="viewer")
    assert [m["ref"] for m in listing["items"]] == ["MW-20261123-0001"]
    status, _ = await call(
        api, "POST", f"/api/v1/maintenances/{created['id']}/finish", json={"successful": True}
    )
    assert status == 409  # not started yet: cancel it instead
    status, cancelled = await call(
        api, "POST", "/api/v1/maintenances/MW-20261123-0001/cancel", json={}
    )
    assert status == 200 and cancelled["state"] == "cancelled"


async def test_too_soon_names_the_earliest_start(api: Api) -> None:
    soon = {**PLANNED, "starts_at": "2026-11-24T10:00:00Z", "ends_at": "2026-11-24T11:00:00Z"}
    status, body = await call(api, "POST", "/api/v1/maintenances", json=soon)
    assert status == 422
    assert body["errors"] == ["earliest_start: 2026-11-26T10:00:00+00:00"]
    status, created = await call(
        api, "POST", "/api/v1/maintenances", json={**soon, "kind": "emergency"}
    )
    assert status == 201 and created["lead_time_seconds"] == 86400


async def test_bad_maintenance_input(api: Api) -> None:
    cases = [
        ({**PLANNED, "kind": "whenever"}, 422),
        ({**PLANNED, "ends_at": "2026-11-26T09:00:00Z"}, 422),
        ({**PLANNED, "services": ["gopher"]}, 422),
        ({**PLANNED, "platform": "mars"}, 422),
        ({**PLANNED, "starts_at": "next thursday"}, 422),
        ({**PLANNED, "colour": "red"}, 422),
    ]
    for body, expected in cases:
        status, problem = await call(api, "POST", "/api/v1/maintenances", json=body)
        assert status == expected, (body, problem)
    assert (await call(api, "POST", "/api/v1/maintenances", role="viewer", json=PLANNED))[0] == 403
    assert (await call(api, "POST", "/api/v1/maintenances/77/cancel", json={}))[0] == 404


async def test_icalendar_feed(api: Api) -> None:
    impact = (
        "IMAP unavailable; webmail, too — and POP3 for a few minutes, maybe longer than 75 octets."
    )
    await call(api, "POST", "/api/v1/maintenances", json={**PLANNED, "expected_impact": impact})
    async with api.client.get(
        "/api/v1/maintenances.ics?platform=eu-de-1", headers=api.auth("viewer")
    ) as response:
        assert response.status == 200 and response.content_type == "text/calendar"
        raw = await response.read()
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n") and raw.endswith(b"END:VCALENDAR\r\n")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    unfolded = raw.decode().replace("\r\n ", "")
    assert "UID:MW-20261123-0001@example.net" in unfolded
    assert "DTSTART:20261126T100000Z" in unfolded and "DTEND:20261126T120000Z" in unfolded
    assert "DESCRIPTION:IMAP unavailable\\; webmail\\, too — and POP3" in unfolded
    assert (await call(api, "GET", "/api/v1/maintenances.ics", role=None))[0] == 401
