"""Bearer tokens and roles through a real aiohttp server: the 200/401/403 matrix, problem
documents, nothing secret in the logs, and the refusal to listen openly without tokens."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.api.auth import ACTOR, ROLE, api_may_start, auth_middleware, requires
from outagewatch.store import tokens

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
OK, UNAUTHORIZED, FORBIDDEN, NOT_FOUND = 200, 401, 403, 404
PROBLEM = "application/problem+json"
ALL_V4 = "0.0.0.0"  # noqa: S104 (listening on every interface is the case under test)


async def whoami(request: web.Request) -> web.Response:
    return web.json_response({"actor": request[ACTOR], "role": request[ROLE]})


async def public(request: web.Request) -> web.Response:
    return web.json_response({"public": True})


@dataclass
class Api:
    client: TestClient[web.Request, web.Application]
    tokens: dict[str, str]  # who -> the token they present

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who in self.tokens else {}


async def issue(engine: AsyncEngine, name: str, role: str) -> str:
    async with engine.begin() as conn:
        token, _ = await tokens.create(conn, name, role, T0)
    return token


@pytest.fixture
async def api(migrated_sqlite: AsyncEngine) -> AsyncIterator[Api]:
    issued = {role: await issue(migrated_sqlite, f"{role}-user", role) for role in tokens.ROLES}
    issued["revoked"] = await issue(migrated_sqlite, "gone", "admin")
    async with migrated_sqlite.begin() as conn:
        await tokens.revoke(conn, "gone", T0)
    issued["garbage"] = "ow_" + "x" * 43

    app = web.Application(middlewares=[auth_middleware(migrated_sqlite, clock=lambda: T0)])
    # Three copies of one handler, each marked with a different least role.
    for role in tokens.ROLES:

        async def handler(request: web.Request) -> web.Response:
            return await whoami(request)

        app.router.add_get(f"/{role}", requires(role)(handler))
    app.router.add_get("/public", public)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, issued)


async def test_the_role_matrix(api: Api) -> None:
    presenters = ["none", "garbage", "revoked", "viewer", "oncall", "admin"]
    got = {
        (who, route): (await api.client.get(f"/{route}", headers=api.headers(who))).status
        for who in presenters
        for route in tokens.ROLES
    }
    expected = {
        ("none", "viewer"): UNAUTHORIZED, ("none", "oncall"): UNAUTHORIZED,
        ("none", "admin"): UNAUTHORIZED,
        ("garbage", "viewer"): UNAUTHORIZED, ("garbage", "oncall"): UNAUTHORIZED,
        ("garbage", "admin"): UNAUTHORIZED,
        ("revoked", "viewer"): UNAUTHORIZED, ("revoked", "oncall"): UNAUTHORIZED,
        ("revoked", "admin"): UNAUTHORIZED,
        ("viewer", "viewer"): OK, ("viewer", "oncall"): FORBIDDEN, ("viewer", "admin"): FORBIDDEN,
        ("oncall", "viewer"): OK, ("oncall", "oncall"): OK, ("oncall", "admin"): FORBIDDEN,
        ("admin", "viewer"): OK, ("admin", "oncall"): OK, ("admin", "admin"): OK,
    }  # fmt: skip
    assert got == expected


async def test_the_handler_learns_the_actor_and_role(api: Api) -> None:
    response = await api.client.get("/viewer", headers=api.headers("oncall"))
    assert await response.json() == {"actor": "oncall-user", "role": "oncall"}


async def test_missing_token_is_a_401_problem_asking_for_bearer(api: Api) -> None:
    response = await api.client.get("/viewer")
    assert response.status == UNAUTHORIZED
    assert response.content_type == PROBLEM
    assert response.headers["WWW-Authenticate"] == "Bearer"
    body = await response.json(content_type=PROBLEM)
    assert body == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": UNAUTHORIZED,
        "detail": "send the header Authorization: Bearer <token>",
    }


@pytest.mark.parametrize("who", ["garbage", "revoked"])
async def test_unknown_and_revoked_tokens_look_the_same(api: Api, who: str) -> None:
    response = await api.client.get("/viewer", headers=api.headers(who))
    assert response.status == UNAUTHORIZED
    assert response.content_type == PROBLEM
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    body = await response.json(content_type=PROBLEM)
    assert body["detail"] == "the token is unknown or revoked"  # no oracle for revocation


@pytest.mark.parametrize(
    "header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token ow_abc", "ow_abc"]
)
async def test_other_authorization_schemes_are_a_missing_token(api: Api, header: str) -> None:
    response = await api.client.get("/viewer", headers={"Authorization": header})
    assert response.status == UNAUTHORIZED
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_the_scheme_is_case_insensitive(api: Api) -> None:
    headers = {"Authorization": f"bearer {api.tokens['viewer']}"}
    assert (await api.client.get("/viewer", headers=headers)).status == OK


async def test_too_small_a_role_is_a_403_problem_naming_the_role(api: Api) -> None:
    response = await api.client.get("/admin", headers=api.headers("oncall"))
    assert response.status == FORBIDDEN
    assert response.content_type == PROBLEM
    body = await response.json(content_type=PROBLEM)
    assert body["title"] == "Forbidden"
    assert body["status"] == FORBIDDEN
    assert body["detail"] == "this needs the admin role; token 'oncall-user' has oncall"


@pytest.mark.parametrize("who", ["none", "garbage"])
async def test_unmarked_handlers_and_unknown_paths_pass_through(api: Api, who: str) -> None:
    response = await api.client.get("/public", headers=api.headers(who))
    assert response.status == OK
    assert await response.json() == {"public": True}
    assert (await api.client.get("/nowhere", headers=api.headers(who))).status == NOT_FOUND


async def test_no_token_reaches_the_logs(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for who in ["viewer", "admin", "revoked", "garbage"]:
        for route in ["viewer", "admin", "public"]:
            await api.client.get(f"/{route}", headers=api.headers(who))
    # The logs were really written, including aiohttp's access log and our refusals.
    assert any(r.name == "aiohttp.access" for r in caplog.records)
    assert any(r.name == "outagewatch.api.auth" for r in caplog.records)
    logged = caplog.text + "".join(repr(r.__dict__) for r in caplog.records)
    leaked = [who for who, token in api.tokens.items() if token in logged or token[3:] in logged]
    assert leaked == []


def test_an_unknown_role_cannot_be_required() -> None:
    with pytest.raises(ValueError, match="unknown role 'root'"):
        requires("root")


@pytest.mark.parametrize(
    ("host", "tokens_present", "refused"),
    [
        ("127.0.0.1", "none", False),
        ("::1", "none", False),
        ("localhost", "none", False),
        ("127.0.0.2", "none", False),
        (ALL_V4, "none", True),
        ("::", "none", True),
        ("192.0.2.10", "none", True),
        ("api.example.net", "none", True),
        (ALL_V4, "revoked only", True),
        (ALL_V4, "active", False),
        ("::", "active", False),
        ("127.0.0.1", "active", False),
    ],
)
async def test_api_may_start(
    migrated_sqlite: AsyncEngine, host: str, tokens_present: str, refused: bool
) -> None:
    if tokens_present != "none":
        await issue(migrated_sqlite, "alice", "admin")
    if tokens_present == "revoked only":
        async with migrated_sqlite.begin() as conn:
            await tokens.revoke(conn, "alice", T0)
    problem = await api_may_start(migrated_sqlite, host)
    if refused:
        assert problem is not None
        assert problem.startswith(
            f"api.listen: the API refuses to start on a non-loopback address ({host})"
            " when no token exists"
        )
        assert "outagewatch token create" in problem
    else:
        assert problem is None
