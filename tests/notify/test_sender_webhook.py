"""Webhook delivery to a real aiohttp server on loopback."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.metrics import Metrics
from outagewatch.notify import outbox
from outagewatch.notify.outbox import Notification
from outagewatch.notify.sender import Sender
from outagewatch.store.tables import notifications
from tests.notify.conftest import T0, counted


@dataclass
class Hook:
    url: str = ""
    status: int = 204
    received: list[Any] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.Response(status=self.status)


@pytest.fixture
async def hook() -> AsyncIterator[Hook]:
    found = Hook()
    app = web.Application()
    app.router.add_post("/hooks/oncall", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks/oncall"
    yield found
    await runner.cleanup()


def page(url: str) -> Notification:
    return Notification(
        thread="incident:7",
        incident_id=7,
        kind="oncall",
        audience="oncall",
        channel="webhook",
        recipients=(url,),
        subject="[on-call] [OX Cloud EU de-1] [Sev 2] Outage: IMAP — detected",
        body_text="IMAP has been down since 09:45 UTC.",
        message_id="<OW-20261123-0007.1.oncall.webhook@example.net>",
    )


async def deliver(db: AsyncEngine, metrics: Metrics, url: str) -> dict[str, Any]:
    async with db.begin() as conn:
        row_id = await outbox.enqueue(conn, page(url), T0)
    assert await Sender(db, None, None, metrics, "fra-1").step(T0)
    async with db.connect() as conn:
        found = await conn.execute(select(notifications).where(notifications.c.id == row_id))
        return dict(found.one()._mapping)


async def test_posts_the_notification_as_json(
    db: AsyncEngine, metrics: Metrics, hook: Hook
) -> None:
    row = await deliver(db, metrics, hook.url)
    assert hook.received == [
        {
            "subject": "[on-call] [OX Cloud EU de-1] [Sev 2] Outage: IMAP — detected",
            "text": "IMAP has been down since 09:45 UTC.",
            "message_id": "<OW-20261123-0007.1.oncall.webhook@example.net>",
            "kind": "oncall",
        }
    ]
    assert (row["state"], row["sent_at"]) == ("sent", T0)
    assert counted(metrics, "oncall", "sent") == 1


@pytest.mark.parametrize(
    ("status", "state", "result"),
    [
        (503, "pending", "retry"),
        (429, "pending", "retry"),
        (302, "pending", "retry"),
        (404, "failed", "failed"),
        (400, "failed", "failed"),
    ],
)
async def test_server_errors_are_retried_and_client_errors_are_final(
    db: AsyncEngine, metrics: Metrics, hook: Hook, status: int, state: str, result: str
) -> None:
    hook.status = status
    row = await deliver(db, metrics, hook.url)
    assert row["state"] == state
    assert f"HTTP {status}" in str(row["last_error"])
    assert counted(metrics, "oncall", result) == 1


async def test_a_webhook_nobody_listens_on_is_retried(db: AsyncEngine, metrics: Metrics) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    row = await deliver(db, metrics, f"http://127.0.0.1:{port}/hooks/oncall")
    assert row["state"] == "pending"
    assert row["pending_recipients"] == [f"http://127.0.0.1:{port}/hooks/oncall"]
    assert counted(metrics, "oncall", "retry") == 1
