"""What an attacker sends to the API and the inbound hooks is refused with a 4xx naming the
problem, never a 500 or a traceback: signatures and tokens compared as bytes whatever they
hold, JSON nested past the parser's stack, paths that would split a log line, and hook
secrets that were emptied while the daemon runs."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from outagewatch.api.app import make_app
from outagewatch.api.context import ApiContext
from outagewatch.logs import OneLineFormatter
from outagewatch.metrics import Metrics
from outagewatch.sim import SmtpServer
from outagewatch.store import tokens
from tests.api.test_inbound_hooks import (
    HOOK,
    Setup,
    acknowledged,
    incident_state,
    jsm_acknowledged,
    sign,
)
from tests.notify.channels.receivers import receivers
from tests.notify.channels.world import (
    JSM_CALLBACK_TOKEN,
    PD_WEBHOOK_SECRET,
    SECRETS,
    ChannelWorld,
    at,
    config_data,
    load,
)

DEEP = b"[" * 30_000 + b"]" * 30_000  # within the 64 KiB body, far past the parser's stack
Edit = Callable[[dict[str, Any], Path], None]


@asynccontextmanager
async def hooks_world(tmp_path: Path, edit: Edit | None = None) -> AsyncIterator[Setup]:
    """The inbound hooks' world (tests/api/test_inbound_hooks.py), its config edited first."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in SECRETS.items():
            mp.setenv(name, value)
        async with SmtpServer() as sink, receivers() as peer:
            data = config_data(tmp_path / "ow.db", sink.port, peer.url)
            if edit is not None:
                edit(data, tmp_path)
            world = ChannelWorld(load(data))
            await world.start()
            await world.outage("imap", at(-15), at(0))
            await world.run(at(0))
            context = ApiContext(world.db, world.config, world.engine, None, lambda: at(3))
            app = make_app(Metrics(), ready=lambda: True, api=context)
            client = TestClient(TestServer(app))
            await client.start_server()
            try:
                yield Setup(world, peer, sink, client, await world.only_ref())
            finally:
                await client.close()
                await world.close()


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with hooks_world(tmp_path) as world:
        yield world


async def raw_request(setup: Setup, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """One request as exact bytes (header values no client library would send)."""
    server = setup.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode())
    writer.write(body)
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    await writer.wait_closed()
    status = int(answer.split(b" ", 2)[1])
    return status, answer


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    "signature",
    [b"v1=\xc3\xa9t\xc3\xa9", b"v1=\xe9t\xe9", b"v1=\xff" * 40],
    ids=["utf-8", "latin-1", "long"],
)
async def test_a_signature_of_any_bytes_is_a_401(
    setup: Setup, signature: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    body = acknowledged(setup.ref)
    head = (
        f"POST {HOOK} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n".encode()
        + b"X-PagerDuty-Signature: "
        + signature
        + b"\r\n"
    )
    status, _ = await raw_request(setup, head, body)
    assert status == 401
    assert await incident_state(setup) == ("open", None)
    no_traceback(caplog)


@pytest.mark.parametrize(
    "token", [b"\xc3\xa9t\xc3\xa9", b"jsm-callback-token-\xe9"], ids=["utf-8", "latin-1"]
)
async def test_a_callback_token_of_any_bytes_is_a_401(
    setup: Setup, token: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(jsm_acknowledged(setup.ref)).encode()
    head = (
        b"POST /api/v1/hooks/opsgenie HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nX-Outagewatch-Token: " + token + b"\r\n"
    )
    status, _ = await raw_request(setup, head, body)
    assert status == 401
    assert await incident_state(setup) == ("open", None)
    no_traceback(caplog)


async def test_json_nested_past_the_stack_is_a_400(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    response = await setup.client.post(
        HOOK, data=DEEP, headers={"X-PagerDuty-Signature": sign(DEEP)}
    )
    assert response.status == 400, await response.text()
    async with setup.world.db.begin() as conn:
        token, _ = await tokens.create(conn, "alice", "admin", at(0))
    for path in ("/api/v1/incidents", f"/api/v1/incidents/{setup.ref}/updates"):
        response = await setup.client.post(
            path, data=b'{"ticket": ' + DEEP + b"}", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 400, await response.text()
        assert "nested too deeply" in (await response.json())["detail"]
    no_traceback(caplog)


def _callback_token_in_a_file(data: dict[str, Any], tmp: Path) -> None:
    (tmp / "jsm-token").write_text(JSM_CALLBACK_TOKEN + "\n")
    jsm = data["channels"]["jsm-ops"]
    del jsm["callback_token_env"]
    jsm["callback_token_file"] = str(tmp / "jsm-token")


def _pd_secret_in_a_file(data: dict[str, Any], tmp: Path) -> None:
    (tmp / "pd-secret").write_text(PD_WEBHOOK_SECRET + "\n")
    pd = data["channels"]["pagerduty-ops"]
    del pd["webhook_secret_env"]
    pd["webhook_secret_file"] = str(tmp / "pd-secret")


async def test_an_emptied_callback_token_file_lets_nobody_acknowledge(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with hooks_world(tmp_path, _callback_token_in_a_file) as setup:
        (tmp_path / "jsm-token").write_text("")  # emptied by a botched rotation
        response = await setup.client.post(
            "/api/v1/hooks/opsgenie", json=jsm_acknowledged(setup.ref)
        )  # no X-Outagewatch-Token at all
        assert response.status in (401, 404)
        assert await incident_state(setup) == ("open", None)
        assert f"{tmp_path / 'jsm-token'} is empty" in caplog.text


async def test_a_short_pagerduty_secret_file_verifies_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with hooks_world(tmp_path, _pd_secret_in_a_file) as setup:
        (tmp_path / "pd-secret").write_text("abc\n")
        body = acknowledged(setup.ref)
        status = (await setup.client.post(HOOK, data=body, headers={
            "X-PagerDuty-Signature": sign(body, "abc")})).status  # fmt: skip
        assert status in (401, 404)
        assert await incident_state(setup) == ("open", None)
        assert "holds 3 characters; this secret needs at least 16" in caplog.text


async def test_a_path_cannot_write_a_log_line_of_its_own(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for path in ("/api/v1/incidents/x%0aFORGED-LINE%20admin%20signed%20in",
                 "/api/v1/incidents/x%0d%0aFORGED-LINE", "/api/v1/incidents/%1b[2J"):  # fmt: skip
        response = await setup.client.get(path)
        assert response.status == 401
    refused = [r for r in caplog.records if r.getMessage().startswith("refused GET")]
    assert len(refused) == 3
    formatter = OneLineFormatter("%(levelname)s %(name)s: %(message)s")
    for record in refused:
        assert "\n" not in record.getMessage() and "\x1b" not in record.getMessage()
        assert "\n" not in formatter.format(record)
    logged = refused[0].getMessage().lower()  # the client sent %0A; aiohttp's keeps it as sent
    assert "refused get /api/v1/incidents/x%0aforged-line%20admin%20signed%20in:" in logged


def test_the_text_format_keeps_every_record_on_one_line() -> None:
    record = logging.LogRecord(
        "outagewatch.x",
        logging.WARNING,
        __file__,
        1,
        "from %s",
        ("a\r\nFORGED\x1b[2J\u2028",),
        None,
    )
    line = OneLineFormatter("%(levelname)s: %(message)s").format(record)
    assert line == "WARNING: from a\\r\\nFORGED\\x1b[2J\\u2028"
