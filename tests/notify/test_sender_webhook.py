"""The old unsigned ``oncall.webhook`` is now the channel "webhook" (notify/channels/):
it still posts, unsigned, and rows queued before the upgrade are still delivered."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.config import Config, parse_config
from outagewatch.config.channels import WebhookChannel
from outagewatch.metrics import Metrics
from outagewatch.notify.channels import build_all
from outagewatch.notify.delivery import Delivery
from outagewatch.notify.sender import Sender
from outagewatch.store.tables import notifications
from tests.notify.channels.receivers import Receivers, receivers
from tests.notify.conftest import T0, counted


def config(url: str) -> Config:
    return parse_config({
        "oncall": {"email": "oncall@example.net", "webhook": url},
        "platforms": {"eu-de-1": {
            "name": "OX Cloud EU de-1",
            "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
            "services": {"imap": {"protocol": "imap", "host": "127.0.0.1", "port": 9}},
        }},
    })  # fmt: skip


@pytest.fixture
async def peer() -> AsyncIterator[Receivers]:
    async with receivers() as found:
        yield found


async def old_row(db: AsyncEngine, url: str) -> int:
    """A row as the sender before channels queued it: the URL as its recipient, no details."""
    async with db.begin() as conn:
        result = await conn.execute(
            insert(notifications).values(
                thread="incident:7", incident_id=7, kind="oncall", audience="oncall",
                channel="webhook", recipients=[url], pending_recipients=[url],
                subject="[on-call] [OX Cloud EU de-1] [Sev 2] Outage: IMAP — detected",
                body_text="IMAP has been down since 09:45 UTC.",
                message_id="<OW-20261123-0007.1.oncall.webhook@example.net>",
                state="pending", attempts=0, next_attempt_at=T0, created_at=T0,
            )
        )  # fmt: skip
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


async def deliver(db: AsyncEngine, metrics: Metrics, url: str) -> dict[str, Any]:
    row_id = await old_row(db, url)
    delivery = Delivery(transports=build_all(config(url).all_channels, 5.0))
    sender = Sender(db, delivery, metrics, "fra-1")
    assert await sender.step(T0)
    async with db.connect() as conn:
        found = await conn.execute(select(notifications).where(notifications.c.id == row_id))
        return dict(found.one()._mapping)


def test_oncall_webhook_is_the_unsigned_channel_webhook() -> None:
    parsed = config("https://hooks.example.net/ow")
    assert parsed.channels_for("eu-de-1") == {"webhook": 4}
    channel = parsed.all_channels["webhook"]
    assert isinstance(channel, WebhookChannel) and channel.unsigned


async def test_a_row_queued_before_the_upgrade_is_still_posted(
    db: AsyncEngine, metrics: Metrics, peer: Receivers
) -> None:
    row = await deliver(db, metrics, f"{peer.url}/hook")
    (sent,) = peer.of("unsigned")
    assert sent.body["type"] == "incident.oncall"
    assert sent.body["data"]["title"].endswith("IMAP — detected")
    assert sent.headers["webhook-id"] == "<OW-20261123-0007.1.oncall.webhook@example.net>"
    assert (row["state"], row["sent_at"]) == ("sent", T0)
    assert counted(metrics, "oncall", "sent", channel="webhook") == 1


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
    db: AsyncEngine, metrics: Metrics, peer: Receivers, status: int, state: str, result: str
) -> None:
    peer.fault(status)
    row = await deliver(db, metrics, f"{peer.url}/hook")
    assert row["state"] == state
    assert f"HTTP {status}" in str(row["last_error"])
    assert counted(metrics, "oncall", result, channel="webhook") == 1


async def test_a_webhook_nobody_listens_on_is_retried(db: AsyncEngine, metrics: Metrics) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    row = await deliver(db, metrics, f"http://127.0.0.1:{port}/hooks/oncall")
    assert row["state"] == "pending"
    assert "cannot reach" in row["last_error"]
    assert counted(metrics, "oncall", "retry", channel="webhook") == 1
