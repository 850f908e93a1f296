"""POST /api/v1/hooks/pagerduty and /opsgenie: an acknowledgement in the pager acknowledges
the incident (and so stops the on-call reminders); a wrong signature or token is refused, a
replay changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from outagewatch.api.context import ApiContext
from outagewatch.daemon.http import make_app
from outagewatch.incidents import store as store
from outagewatch.metrics import Metrics
from outagewatch.sim import SmtpServer
from tests.notify.channels.receivers import Receivers, receivers
from tests.notify.channels.world import (
    JSM_CALLBACK_TOKEN,
    PD_WEBHOOK_SECRET,
    SECRETS,
    ChannelWorld,
    at,
    config_data,
    load,
)

HOOK = "/api/v1/hooks/pagerduty"


@dataclass
class Setup:
    world: ChannelWorld
    peer: Receivers
    sink: SmtpServer
    client: TestClient  # type: ignore[type-arg]
    ref: str


def sign(body: bytes, secret: str = PD_WEBHOOK_SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def acknowledged(ref: str, event_id: str = "01DEN5JPHGHHVH3IRWSKTCTJ4D") -> bytes:
    """An ``incident.acknowledged`` event as PagerDuty's V3 webhooks send it."""
    event: dict[str, Any] = {
        "event": {
            "id": event_id,
            "event_type": "incident.acknowledged",
            "resource_type": "incident",
            "occurred_at": "2026-11-23T10:03:00.000Z",
            "agent": {"id": "PLH1HKV", "summary": "Alice Example", "type": "user_reference"},
            "client": None,
            "data": {"id": "PGR0VU2", "type": "incident", "number": 2,
                     "status": "acknowledged", "incident_key": ref,
                     "title": "[OX Cloud EU de-1] [Sev 2] Outage: IMAP — detected"},
        }
    }  # fmt: skip
    return json.dumps(event).encode()


@pytest.fixture
async def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Setup]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    async with SmtpServer() as sink, receivers() as peer:
        world = ChannelWorld(load(config_data(tmp_path / "ow.db", sink.port, peer.url)))
        await world.start()
        await world.outage("imap", at(-15), at(0))
        await world.run(at(0))
        context = ApiContext(world.db, world.config, world.engine, None, lambda: at(3))
        client = TestClient(TestServer(make_app(Metrics(), ready=lambda: True, api=context)))
        await client.start_server()
        try:
            yield Setup(world, peer, sink, client, await world.only_ref())
        finally:
            await client.close()
            await world.close()


async def post(setup: Setup, body: bytes, signature: str) -> tuple[int, Any]:
    response = await setup.client.post(
        HOOK, data=body, headers={"X-PagerDuty-Signature": signature,
                                  "Content-Type": "application/json"}
    )  # fmt: skip
    return response.status, await response.json()


async def incident_state(setup: Setup) -> tuple[str, str | None]:
    async with setup.world.db.connect() as conn:
        stored = await store.by_ref(conn, setup.ref)
    assert stored is not None
    return stored.incident.state, stored.incident.acknowledged_by


def oncall_mails(setup: Setup) -> int:
    return sum("oncall@example.net" in m.rcpt_tos for m in setup.sink.messages)


async def test_an_acknowledgement_in_pagerduty_acknowledges_and_stops_reminders(
    setup: Setup,
) -> None:
    assert oncall_mails(setup) == 1  # the on-call mail of the opening
    body = acknowledged(setup.ref)
    status, answer = await post(setup, body, sign(body))
    assert (status, answer["result"]) == (200, "acknowledged")
    assert await incident_state(setup) == ("acknowledged", "pagerduty:Alice Example")
    await setup.world.run(at(45))  # four reminder periods later
    assert oncall_mails(setup) == 1  # no "not acknowledged" reminder
    chat = setup.peer.of("slack")[-1].body["blocks"][0]["text"]["text"]
    assert chat.endswith("acknowledged by pagerduty:Alice Example")


async def test_any_valid_signature_of_several_is_enough(setup: Setup) -> None:
    body = acknowledged(setup.ref)
    rotating = f"{sign(body, 'the-old-secret')},{sign(body)}"
    status, answer = await post(setup, body, rotating)
    assert (status, answer["result"]) == (200, "acknowledged")


async def test_a_wrong_signature_is_refused_and_logged(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    body = acknowledged(setup.ref)
    status, answer = await post(setup, body, sign(body, "not-the-secret"))
    assert status == 401 and answer["title"] == "Unauthorized"
    status, _ = await post(setup, body, "")
    assert status == 401
    assert "refused a PagerDuty webhook" in caplog.text
    assert await incident_state(setup) == ("open", None)


async def test_a_replayed_event_is_ignored(setup: Setup) -> None:
    body = acknowledged(setup.ref)
    assert (await post(setup, body, sign(body)))[1]["result"] == "acknowledged"
    status, answer = await post(setup, body, sign(body))
    assert (status, answer) == (200, {"result": "ignored",
                                      "reason": "this event was handled before"})  # fmt: skip


async def test_an_alert_that_is_not_ours_is_ignored(setup: Setup) -> None:
    body = acknowledged("somebody-elses-alert")
    status, answer = await post(setup, body, sign(body))
    assert (status, answer["result"]) == (200, "ignored")
    assert await incident_state(setup) == ("open", None)


def jsm_acknowledged(alias: str, updated_at: int = 1763892180000000000) -> dict[str, Any]:
    """An Acknowledge action as Opsgenie's / JSM's outgoing webhook integration sends it."""
    return {
        "source": {"name": "", "type": "web"},
        "alert": {"updatedAt": updated_at, "tags": ["outagewatch"], "message": "Outage: IMAP",
                  "username": "bob@example.net", "alertId": "052652ac-5d1c-464a-812a",
                  "source": "outagewatch", "alias": alias, "tinyId": "23",
                  "createdAt": 1763892000000, "userId": "daed1180", "entity": "OX Cloud"},
        "action": "Acknowledge",
        "integrationId": "37c8f316-17c6-49d7-899b-9c7e540c048d",
        "integrationName": "outagewatch acks",
    }  # fmt: skip


async def post_jsm(setup: Setup, payload: dict[str, Any], token: str) -> tuple[int, Any]:
    response = await setup.client.post(
        "/api/v1/hooks/opsgenie", json=payload, headers={"X-Outagewatch-Token": token}
    )
    return response.status, await response.json()


async def test_an_acknowledgement_in_jsm_acknowledges_by_alias(setup: Setup) -> None:
    status, answer = await post_jsm(setup, jsm_acknowledged(setup.ref), JSM_CALLBACK_TOKEN)
    assert (status, answer["result"]) == (200, "acknowledged")
    assert await incident_state(setup) == ("acknowledged", "opsgenie:bob@example.net")
    again = await post_jsm(setup, jsm_acknowledged(setup.ref), JSM_CALLBACK_TOKEN)
    assert again == (200, {"result": "ignored", "reason": "this event was handled before"})


async def test_jsm_without_the_token_is_refused(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    status, _ = await post_jsm(setup, jsm_acknowledged(setup.ref), "guessed")
    assert status == 401
    assert "refused an Opsgenie webhook" in caplog.text
    assert await incident_state(setup) == ("open", None)
