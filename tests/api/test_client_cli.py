"""``outagewatch incidents …`` against a real HTTP server on loopback.

The incident routes are not this module's subject, so the server runs small stubs that
follow the API contract (DESIGN section 6: paths, bodies, ``{"items": [...]}``, problem
documents), behind the real ``auth_middleware`` and real tokens. The CLI calls
``asyncio.run`` itself, so the server lives on its own loop in a thread, as aiosmtpd's
Controller does; start and stop are awaited across threads, never slept for.
"""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from outagewatch.api.auth import ACTOR, auth_middleware, problem, requires
from outagewatch.cli.main import main
from outagewatch.store import tokens
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade

EXIT_OK, EXIT_REFUSED, EXIT_INPUT = 0, 1, 2
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

INCIDENT: dict[str, Any] = {
    "id": 7,
    "ref": "OW-20261123-0007",
    "platform": "eu-de-1",
    "state": "open",
    "origin": "detected",
    "severity": 2,
    "severity_overridden": False,
    "ticket": None,
    "user_impact": "Users cannot fetch mail over IMAP",
    "etr": None,
    "update_every": None,
    "services": [
        {
            "service": "imap",
            "label": "IMAP",
            "started_at": "2026-11-23T10:00:00Z",
            "restored_at": None,
            "reported": False,
        },
        {
            "service": "pop3",
            "label": "POP3",
            "started_at": "2026-11-23T10:02:00+00:00",
            "restored_at": "2026-11-23T10:40:00+00:00",
            "reported": False,
        },
    ],
    "opened_at": "2026-11-23T10:15:00Z",
    "started_at": "2026-11-23T10:00:00Z",
    "acknowledged_at": None,
    "acknowledged_by": None,
    "restored_at": None,
    "closed_at": None,
    "last_customer_mail_at": "2026-11-23T10:15:00Z",
    "next_update_at": "2026-11-23T11:15:00Z",
    "updates_sent": 0,
}
TIMELINE = [
    {"id": 1, "at": "2026-11-23T10:15:00Z", "kind": "opened", "actor": "system",
     "detail": {"services": "imap"}},
    {"id": 2, "at": "2026-11-23T10:16:30Z", "kind": "note", "actor": "alice",
     "detail": {"note": "looking at the IMAP backends"}},
]  # fmt: skip
NOTIFICATIONS = [
    {"id": 3, "kind": "detected", "audience": "customer", "channel": "mail",
     "recipients": ["incidents-de-1@example.net"],
     "subject": "[OX Cloud EU de-1] [Sev 2] Outage: IMAP — detected",
     "message_id": "<OW-20261123-0007.0@example.net>", "state": "sent", "attempts": 1,
     "next_attempt_at": "2026-11-23T10:15:00Z", "last_error": None,
     "created_at": "2026-11-23T10:15:00Z", "sent_at": "2026-11-23T10:15:02Z"},
]  # fmt: skip


def _find(request: web.Request) -> dict[str, Any] | None:
    key = request.match_info["id"]
    return copy.deepcopy(INCIDENT) if key in (str(INCIDENT["id"]), INCIDENT["ref"]) else None


def _not_found(request: web.Request) -> web.Response:
    return problem(404, "Not found", f"no incident {request.match_info['id']!r}")


@requires("viewer")
async def list_incidents(request: web.Request) -> web.Response:
    state = request.query.get("state")
    items = [INCIDENT] if state in (None, INCIDENT["state"]) else []
    return web.json_response({"items": items})


@requires("viewer")
async def show_incident(request: web.Request) -> web.Response:
    found = _find(request)
    if found is None:
        return _not_found(request)
    return web.json_response({**found, "timeline": TIMELINE, "notifications": NOTIFICATIONS})


@requires("oncall")
async def acknowledge(request: web.Request) -> web.Response:
    found = _find(request)
    if found is None:
        return _not_found(request)
    found.update(state="acknowledged", acknowledged_by=request[ACTOR])
    return web.json_response(found)


@requires("oncall")
async def post_update(request: web.Request) -> web.Response:
    found = _find(request)
    if found is None:
        return _not_found(request)
    body = await request.json()
    found.update(severity=body.get("severity", found["severity"]), updates_sent=1)
    return web.json_response(found)


async def broken_proxy(request: web.Request) -> web.Response:
    return web.Response(status=502, reason="Bad Gateway", text="<html>upstream down</html>")


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Any


@dataclass
class Server:
    """The stub API on its own thread and loop, with a viewer and an oncall token."""

    db: Path
    url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _start(self) -> None:
        self.engine = open_engine(f"sqlite+aiosqlite:///{self.db}")
        await upgrade(self.engine)
        async with self.engine.begin() as conn:
            for role in ("viewer", "oncall"):
                self.tokens[role], _ = await tokens.create(conn, f"{role}-user", role, T0)

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            raw = await request.read()
            self.seen.append(
                Seen(
                    request.method,
                    request.path,
                    dict(request.query),
                    request.headers.get("Authorization"),
                    json.loads(raw) if raw else None,
                )
            )
            response: web.StreamResponse = await handler(request)
            return response

        app = web.Application(middlewares=[record, auth_middleware(self.engine)])
        app.router.add_get("/api/v1/incidents", list_incidents)
        app.router.add_get("/api/v1/incidents/{id}", show_incident)
        app.router.add_post("/api/v1/incidents/{id}/ack", acknowledge)
        app.router.add_post("/api/v1/incidents/{id}/updates", post_update)
        app.router.add_get("/behind-proxy/api/v1/incidents", broken_proxy)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def _stop(self) -> None:
        await self.runner.cleanup()
        await self.engine.dispose()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("api") / "ow.db")
    running.start()
    yield running
    running.stop()


@pytest.fixture
def api(server: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    server.seen.clear()
    monkeypatch.delenv("OUTAGEWATCH_URL", raising=False)
    monkeypatch.setenv("OUTAGEWATCH_TOKEN", server.tokens["viewer"])
    return server


def run(api: Server, *argv: str) -> int:
    return main(["incidents", *argv, "--url", api.url])


def test_list_sends_the_token_and_prints_a_table(
    api: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(api, "list") == EXIT_OK
    (seen,) = api.seen
    assert (seen.method, seen.path, seen.query) == ("GET", "/api/v1/incidents", {"limit": "1000"})
    assert seen.authorization == f"Bearer {api.tokens['viewer']}"
    out, err = capsys.readouterr()
    header, row = out.splitlines()
    assert header.split()[:5] == ["ID", "REF", "PLATFORM", "STATE", "SEV"]
    assert row.split()[:5] == ["7", "OW-20261123-0007", "eu-de-1", "open", "2"]
    assert "imap, pop3" in row
    assert "2026-11-23 10:15Z" in row  # opened
    assert "2026-11-23 11:15Z" in row  # next update
    assert api.tokens["viewer"] not in out + err


def test_list_passes_the_state_filter(api: Server, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(api, "list", "--state", "closed") == EXIT_OK
    assert api.seen[0].query == {"state": "closed", "limit": "1000"}
    assert capsys.readouterr().out == "no closed incidents\n"


def test_an_unknown_state_is_bad_input(api: Server, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(api, "list", "--state", "gone") == EXIT_INPUT
    assert capsys.readouterr().err == (
        "--state: 'gone' is not one of open, acknowledged, restored, closed\n"
    )
    assert api.seen == []


@pytest.mark.parametrize("key", ["7", "OW-20261123-0007"])
def test_show_prints_facts_timeline_and_mails(
    api: Server, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    assert run(api, "show", key) == EXIT_OK
    assert api.seen[0].path == f"/api/v1/incidents/{key}"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["OW-20261123-0007", "(id", "7)", "eu-de-1", "open", "severity", "2"]
    assert lines[1].split() == ["services", "imap", "since", "2026-11-23", "10:00Z"]
    assert lines[2].split()[:4] == ["pop3", "since", "2026-11-23", "10:02Z,"]
    assert "restored 2026-11-23 10:40Z" in lines[2]
    assert "user impact   Users cannot fetch mail over IMAP" in lines
    assert "next update   2026-11-23 11:15Z" in lines
    timeline = lines.index("timeline")
    assert lines[timeline + 1].split() == [
        "2026-11-23", "10:15:00Z", "system", "opened", "services:", "imap",
    ]  # fmt: skip
    assert lines[timeline + 2] == (
        "  2026-11-23 10:16:30Z  alice   note    note: looking at the IMAP backends"
    )  # columns aligned
    assert lines[timeline + 3] == "notifications"
    assert lines[timeline + 4].split()[2:5] == ["detected", "customer", "sent"]
    assert lines[timeline + 4].endswith("[OX Cloud EU de-1] [Sev 2] Outage: IMAP — detected")


def test_an_unknown_incident_is_the_apis_404(
    api: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(api, "show", "99") == EXIT_REFUSED
    assert capsys.readouterr().err == "404 Not found: no incident '99'\n"


def test_a_malformed_key_is_bad_input(api: Server, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(api, "show", "7/../../metrics") == EXIT_INPUT
    assert "name an incident by its id (7) or its ref" in capsys.readouterr().err
    assert api.seen == []


def test_ack_needs_oncall_and_the_403_is_printed(
    api: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(api, "ack", "7") == EXIT_REFUSED
    assert api.seen[0].authorization == f"Bearer {api.tokens['viewer']}"
    assert capsys.readouterr().err == (
        "403 Forbidden: this needs the oncall role; token 'viewer-user' has viewer\n"
    )


def test_ack_with_a_note(
    api: Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTAGEWATCH_TOKEN", api.tokens["oncall"])
    assert run(api, "ack", "OW-20261123-0007", "--note", "on it") == EXIT_OK
    (seen,) = api.seen
    assert (seen.method, seen.path) == ("POST", "/api/v1/incidents/OW-20261123-0007/ack")
    assert seen.body == {"note": "on it"}
    assert capsys.readouterr().out == (
        "OW-20261123-0007 (id 7): acknowledged, severity 2, acknowledged by oncall-user,"
        " next update 2026-11-23 11:15Z\n"
    )


def test_ack_without_a_note_sends_an_empty_object(
    api: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTAGEWATCH_TOKEN", api.tokens["oncall"])
    assert run(api, "ack", "7") == EXIT_OK
    assert api.seen[0].body == {}


def test_update_sends_the_contracts_field_names(
    api: Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTAGEWATCH_TOKEN", api.tokens["oncall"])
    argv = ["update", "7", "--message", "Fix deployed", "--impact", "Slow IMAP logins"]
    argv += ["--etr", "2026-11-23T14:00Z", "--every", "30m", "--severity", "1"]
    assert run(api, *argv) == EXIT_OK
    (seen,) = api.seen
    assert (seen.method, seen.path) == ("POST", "/api/v1/incidents/7/updates")
    assert seen.body == {
        "message": "Fix deployed",
        "user_impact": "Slow IMAP logins",
        "etr": "2026-11-23T14:00:00+00:00",
        "update_every": "30m",
        "severity": 1,
    }
    assert capsys.readouterr().out.startswith("OW-20261123-0007 (id 7): open, severity 1")


def test_update_with_bad_values_names_each_problem(
    api: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["update", "7", "--etr", "tomorrow", "--every", "soon", "--severity", "9"]
    assert run(api, *argv) == EXIT_INPUT
    err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[0] for line in err] == ["--etr", "--every", "--severity"]
    assert api.seen == []


def test_update_without_changes_is_bad_input(
    api: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(api, "update", "7") == EXIT_INPUT
    assert capsys.readouterr().err.startswith("nothing to update: give --message")
    assert api.seen == []


def test_without_a_token_the_401_comes_with_a_hint(
    api: Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OUTAGEWATCH_TOKEN")
    assert run(api, "list") == EXIT_REFUSED
    assert api.seen[0].authorization is None
    assert capsys.readouterr().err.splitlines() == [
        "401 Unauthorized: send the header Authorization: Bearer <token>",
        "hint: set OUTAGEWATCH_TOKEN (see 'outagewatch token create')",
    ]


def test_a_wrong_token_is_a_401(
    api: Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTAGEWATCH_TOKEN", "ow_" + "x" * 43)
    assert run(api, "list") == EXIT_REFUSED
    assert capsys.readouterr().err == "401 Unauthorized: the token is unknown or revoked\n"


def test_the_url_comes_from_the_environment(
    api: Server, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTAGEWATCH_URL", api.url)
    assert main(["incidents", "list"]) == EXIT_OK
    assert len(api.seen) == 1


def test_an_error_page_that_is_not_a_problem_document(
    api: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["incidents", "list", "--url", f"{api.url}/behind-proxy/"]) == EXIT_REFUSED
    assert api.seen[0].path == "/behind-proxy/api/v1/incidents"
    assert capsys.readouterr().err == "502 Bad Gateway: <html>upstream down</html>\n"


def test_an_unreachable_api_is_one_line_naming_the_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    assert main(["incidents", "list", "--url", url]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"cannot reach the API at {url}: ")


@pytest.mark.parametrize("url", ["ftp://example.net", "127.0.0.1:8080", "http://"])
def test_a_url_that_is_not_http_is_bad_input(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["incidents", "list", "--url", url]) == EXIT_INPUT
    assert "is not an http:// or https:// URL" in capsys.readouterr().err
