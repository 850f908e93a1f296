"""The API harness with the web switched on (the status page public, mails linking to it),
and the two things a browser-like client needs: the form's CSRF token and sent mails."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.api.app import make_app
from outagewatch.api.context import ApiContext
from outagewatch.config.model import Web
from outagewatch.incidents.engine import IncidentEngine, audiences
from outagewatch.maintenance.engine import MaintenanceEngine
from outagewatch.metrics import Metrics
from outagewatch.store import tokens
from outagewatch.store.tables import notifications

from ..api.harness import ROLES, Api, Clock
from ..incidents.world import T0, config_for

PUBLIC = "https://status.example.net"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def start_web(db: AsyncEngine, tmp_path: Path) -> Api:
    config = config_for(25, tmp_path / "unused.db").model_copy(
        update={"web": Web(status_page=True, public_url=PUBLIC)}
    )
    clock = Clock()
    engine = IncidentEngine(db, audiences(config))
    windows = MaintenanceEngine(db, config, engine.audiences)
    context = ApiContext(db, config, engine, None, clock, windows)
    client = TestClient(TestServer(make_app(Metrics(), ready=lambda: True, api=context)))
    await client.start_server()
    api = Api(client, db, engine, clock)
    async with db.begin() as conn:
        for role in ROLES:
            api.tokens[role], _ = await tokens.create(conn, f"{role}-alice", role, T0)
    return api


async def mark_sent(api: Api) -> None:
    """What the outbox sender does once the relay took a mail (the sender has its own tests)."""
    async with api.engine.begin() as conn:
        await conn.execute(
            update(notifications)
            .where(notifications.c.state == "pending")
            .values(state="sent", sent_at=api.clock(), pending_recipients=[])
        )


async def csrf_of(response: ClientResponse) -> str:
    found = CSRF.search(await response.text())
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


async def sign_in(api: Api, role: str) -> str:
    """Sign the client in with the ``role`` token; the session's CSRF token."""
    async with api.client.get("/console/sign-in") as form:
        csrf = await csrf_of(form)
    data = {"csrf": csrf, "token": api.tokens[role], "next": "/console"}
    async with api.client.post("/console/sign-in", data=data) as home:
        assert home.status == 200 and home.url.path == "/console", await home.text()
        return await csrf_of(home)
