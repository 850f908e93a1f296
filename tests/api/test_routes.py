"""Every route and role through a real aiohttp server, and the mail an update triggers."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.store.tables import notifications

from .harness import Api, start_api

REPORT = {"platform": "eu-de-1", "services": ["webmail"], "ticket": "T-4711",
          "user_impact": "Users cannot log in to webmail."}  # fmt: skip


@pytest.fixture
async def api(migrated_sqlite: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    harness = await start_api(migrated_sqlite, tmp_path)
    yield harness
    await harness.client.close()


async def call(
    api: Api, method: str, path: str, role: str | None = "oncall", **kw: Any
) -> tuple[int, Any]:
    headers = api.auth(role) if role else {}
    async with api.client.request(method, path, headers=headers, **kw) as response:
        body = await response.json(content_type=None)
        if response.status >= 400:
            assert response.content_type == "application/problem+json"
            assert body["status"] == response.status
        return response.status, body


async def mails(api: Api) -> list[tuple[str, str]]:
    async with api.engine.connect() as conn:
        rows = await conn.execute(
            select(notifications.c.kind, notifications.c.subject).order_by(notifications.c.id)
        )
        return [(k, s) for k, s in rows]


async def test_report_show_update_ack_restore_close(api: Api) -> None:
    status, created = await call(api, "POST", "/api/v1/incidents", json=REPORT)
    assert status == 201
    ref, iid = created["ref"], created["id"]
    assert ref == "OW-20261123-0001" and created["state"] == "open"
    assert created["services"][0]["label"] == "Web-Mail"
    assert [k for k, _ in await mails(api)] == ["detected", "oncall"]

    api.clock.advance(10)
    update = {"message": "The login service restarts.", "etr": "2026-11-23T11:30:00+01:00"}
    status, updated = await call(api, "POST", f"/api/v1/incidents/{iid}/updates", json=update)
    assert status == 200 and updated["etr"] == "2026-11-23T10:30:00Z"
    kinds = await mails(api)
    assert kinds[-1] == ("update", "[OX Cloud EU de-1] [Sev 2] Outage: Web-Mail — update 1")

    status, acked = await call(api, "POST", f"/api/v1/incidents/{ref}/ack", json={"note": "on it"})
    assert status == 200 and acked["acknowledged_by"] == "oncall-alice"
    status, restored = await call(api, "POST", f"/api/v1/incidents/{iid}/restore", json={})
    assert status == 200 and restored["state"] == "restored"
    status, closed = await call(api, "POST", f"/api/v1/incidents/{iid}/close", json={})
    assert status == 200 and closed["state"] == "closed"

    status, shown = await call(api, "GET", f"/api/v1/incidents/{ref}", role="viewer")
    assert status == 200
    assert [e["kind"] for e in shown["timeline"]] == [
        "opened",
        "update",
        "acknowledged",
        "restored",
        "closed",
    ]
    assert {e["actor"] for e in shown["timeline"]} == {"oncall-alice"}
    assert [n["kind"] for n in shown["notifications"]] == [
        "detected",
        "oncall",
        "update",
        "restored",
    ]
    # Nothing was sent (no sender runs here): the restored mail took the update over.
    states = [(n["kind"], n["state"], n["stands_for"]) for n in shown["notifications"]]
    assert states == [
        ("detected", "pending", 1),
        ("oncall", "pending", 1),
        ("update", "superseded", 1),
        ("restored", "pending", 2),
    ]
    assert shown["notifications"][2]["superseded_by"] == shown["notifications"][3]["id"]
    status, listing = await call(api, "GET", "/api/v1/incidents?state=closed", role="viewer")
    assert [i["ref"] for i in listing["items"]] == [ref]


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("GET", "/api/v1/services", "viewer"),
        ("GET", "/api/v1/incidents", "viewer"),
        ("GET", "/api/v1/incidents/1", "viewer"),
        ("POST", "/api/v1/incidents", "oncall"),
        ("POST", "/api/v1/incidents/1/ack", "oncall"),
        ("POST", "/api/v1/incidents/1/updates", "oncall"),
        ("POST", "/api/v1/incidents/1/restore", "oncall"),
        ("POST", "/api/v1/incidents/1/close", "oncall"),
    ],
)
async def test_roles(api: Api, method: str, path: str, needed: str) -> None:
    await call(api, "POST", "/api/v1/incidents", json=REPORT)
    body = {"message": "x"} if path.endswith("updates") else ({} if method == "POST" else None)
    if path == "/api/v1/incidents":
        body = None if method == "GET" else REPORT
    assert (await call(api, method, path, role=None, json=body))[0] == 401
    ranks = ["viewer", "oncall", "admin"]
    for role in ranks:
        status, _ = await call(api, method, path, role=role, json=body)
        if ranks.index(role) < ranks.index(needed):
            assert status == 403, role
        else:
            assert status not in (401, 403), (role, status)


async def test_bad_input_is_a_4xx_problem(api: Api) -> None:
    _, created = await call(api, "POST", "/api/v1/incidents", json=REPORT)
    iid = created["id"]
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("POST", "/api/v1/incidents", {"json": {**REPORT, "severity": "high"}}, 422),
        ("POST", "/api/v1/incidents", {"json": {**REPORT, "colour": "red"}}, 422),
        ("POST", "/api/v1/incidents", {"json": {**REPORT, "ticket": "T-1\r\nBcc: x@evil"}}, 422),
        ("POST", "/api/v1/incidents", {"json": {**REPORT, "platform": "mars"}}, 422),
        ("POST", "/api/v1/incidents", {"json": REPORT}, 409),  # the platform has one open
        ("POST", "/api/v1/incidents", {"data": b"{not json"}, 400),
        ("POST", "/api/v1/incidents", {"data": b"x" * 100_000}, 413),
        (
            "POST",
            f"/api/v1/incidents/{iid}/updates",
            {"json": {"etr": "2026-11-23T09:00:00Z"}},
            422,
        ),
        ("POST", f"/api/v1/incidents/{iid}/updates", {"json": {"etr": "tomorrow"}}, 422),
        ("POST", f"/api/v1/incidents/{iid}/updates", {"json": {"update_every": "often"}}, 422),
        ("POST", f"/api/v1/incidents/{iid}/updates", {"json": {}}, 422),
        ("POST", f"/api/v1/incidents/{iid}/updates", {"json": [1, 2]}, 422),
        ("POST", "/api/v1/incidents/999/ack", {"json": {}}, 404),
        ("GET", "/api/v1/incidents?state=sleeping", {}, 422),
        ("GET", "/api/v1/nothing-here", {}, 404),
    ]
    for method, path, kw, expected in cases:
        status, body = await call(api, method, path, **kw)
        assert status == expected, (path, kw, body)
        assert body["title"] and body["detail"]
    await call(api, "POST", f"/api/v1/incidents/{iid}/restore", json={})
    await call(api, "POST", f"/api/v1/incidents/{iid}/close", json={})
    status, body = await call(api, "POST", f"/api/v1/incidents/{iid}/ack", json={})
    assert status == 409 and "closed" in body["detail"]


async def test_services_and_openapi(api: Api) -> None:
    status, services = await call(api, "GET", "/api/v1/services", role="viewer")
    assert status == 200
    assert {s["id"] for s in services["items"]} >= {"eu-de-1/imap", "us/webmail"}
    assert all(s["state"] == "unknown" for s in services["items"])  # nothing probed yet
    async with api.client.get("/api/v1/openapi.json") as response:
        doc = await response.json()
    assert doc["openapi"].startswith("3.1")
    assert "/api/v1/incidents/{id}/updates" in doc["paths"]


async def test_tokens_never_reach_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await call(api, "POST", "/api/v1/incidents", json=REPORT)
    await call(api, "GET", "/api/v1/incidents", role="viewer")
    async with api.client.get(
        "/api/v1/incidents", headers={"Authorization": "Bearer ow_not-a-real-token"}
    ):
        pass
    text = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    for token in [*api.tokens.values(), "ow_not-a-real-token"]:
        assert token not in text


async def test_services_show_the_last_sample_per_vantage(api: Api) -> None:
    from outagewatch.probes.result import ErrorKind, ProbeResult
    from outagewatch.store.samples import SampleRow, insert_samples

    result = ProbeResult(
        api.clock.now, 60.0, False, ErrorKind.TIMEOUT, {"banner": 60.0}, "no answer"
    )
    async with api.engine.begin() as conn:
        await insert_samples(conn, [SampleRow("eu-de-1", "imap", "fra", result, True)])
    _, services = await call(api, "GET", "/api/v1/services", role="viewer")
    imap = next(s for s in services["items"] if s["id"] == "eu-de-1/imap")
    assert imap["state"] == "bad" and imap["label"] == "IMAP"
    assert imap["vantages"]["fra"]["last_sample"]["error_kind"] == "timeout"
    assert imap["vantages"]["fra"]["last_sample"]["duration"] == 60.0
