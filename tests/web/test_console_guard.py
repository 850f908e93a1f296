"""The console's sign-in as an attacker meets it: login CSRF fails closed, failed sign-ins
are logged with the client's address and throttled, a token's sessions are capped, and a
path that would break the redirect to the sign-in is kept encoded."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.web.session import Sessions
from outagewatch.web.throttle import LIMIT, WINDOW, SignInThrottle

from ..api.harness import Api
from ..incidents.world import T0
from .harness import csrf_of, start_web

SEE_OTHER, UNAUTHORIZED, FORBIDDEN, TOO_MANY = 303, 401, 403, 429


@pytest.fixture
async def api(migrated_sqlite: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    harness = await start_web(migrated_sqlite, tmp_path)
    yield harness
    await harness.client.close()


async def attempt(api: Api, token: str) -> tuple[int, str | None]:
    """One sign-in through the form, as a browser does it; its status and session cookie."""
    async with api.client.get("/console/sign-in") as form:
        csrf = await csrf_of(form)
    data = {"csrf": csrf, "token": token, "next": "/console"}
    async with api.client.post("/console/sign-in", data=data, allow_redirects=False) as response:
        cookie = response.cookies.get("ow_session")
        return response.status, cookie.value if cookie else None


async def test_login_csrf_fails_closed_without_the_form_cookie(api: Api) -> None:
    # An attacker's page posting its own token with an empty CSRF value: the victim's
    # browser has no sign-in cookie for it to match.
    data = {"csrf": "", "token": api.tokens["oncall"], "next": "/console"}
    async with api.client.post("/console/sign-in", data=data, allow_redirects=False) as response:
        assert response.status == FORBIDDEN
        assert "ow_session" not in response.cookies
    api.client.session.cookie_jar.clear()
    async with api.client.get("/console/sign-in") as form:
        await csrf_of(form)  # the form's cookie is set, but the value posted is empty
    async with api.client.post("/console/sign-in", data=data, allow_redirects=False) as response:
        assert response.status == FORBIDDEN


async def test_failed_sign_ins_are_logged_with_the_address_and_throttled(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(LIMIT):
        assert (await attempt(api, "ow_guessed-token"))[0] == UNAUTHORIZED
    refusals = [r.getMessage() for r in caplog.records if "sign-in refused" in r.getMessage()]
    assert refusals == ["console sign-in refused from 127.0.0.1: unknown or revoked token"] * LIMIT
    assert api.tokens["oncall"] not in caplog.text
    async with api.client.get("/console/sign-in") as form:
        csrf = await csrf_of(form)
    data = {"csrf": csrf, "token": api.tokens["oncall"], "next": "/console"}
    async with api.client.post("/console/sign-in", data=data, allow_redirects=False) as response:
        # Even the right token: while blocked, no token is looked at.
        assert response.status == TOO_MANY
        assert int(response.headers["Retry-After"]) == int(WINDOW.total_seconds())
        assert "Too many failed sign-ins" in await response.text()
    api.clock.advance(WINDOW.total_seconds() / 60)
    assert (await attempt(api, api.tokens["oncall"]))[0] == SEE_OTHER


async def test_a_tokens_sessions_are_capped_oldest_first(api: Api) -> None:
    sessions = []
    for _ in range(21):
        api.client.session.cookie_jar.clear()
        status, sid = await attempt(api, api.tokens["viewer"])
        assert status == SEE_OTHER and sid is not None
        sessions.append(sid)
    api.client.session.cookie_jar.clear()
    for sid, signed_in in ((sessions[0], False), (sessions[1], True), (sessions[-1], True)):
        async with api.client.get(
            "/console", headers={"Cookie": f"ow_session={sid}"}, allow_redirects=False
        ) as response:
            assert (response.status == 200) is signed_in, sid


def test_sessions_per_token_are_bounded() -> None:
    sessions = Sessions(lambda: timedelta(hours=12), per_token=3)
    made = [sessions.create("alice", "oncall", T0 + timedelta(seconds=i)) for i in range(5)]
    other = sessions.create("bob", "viewer", T0)
    alive = [s for s in made if sessions.get(s.id, T0 + timedelta(minutes=1)) is not None]
    assert alive == made[2:]
    assert sessions.get(other.id, T0) == other


def test_the_throttle_counts_per_address_within_the_window_and_is_bounded() -> None:
    throttle = SignInThrottle(limit=3, window=timedelta(minutes=10), max_clients=2)
    for i in range(3):
        assert throttle.retry_after("192.0.2.1", T0) is None
        assert throttle.failed("192.0.2.1", T0 + timedelta(minutes=i)) is (i == 2)
    assert throttle.retry_after("192.0.2.1", T0 + timedelta(minutes=5)) == timedelta(minutes=5)
    assert throttle.retry_after("192.0.2.2", T0) is None  # another address
    assert throttle.retry_after("192.0.2.1", T0 + timedelta(minutes=10)) is None  # aged out
    throttle.failed("192.0.2.2", T0)
    throttle.failed("192.0.2.3", T0)  # the third address: the oldest one is forgotten
    assert len(throttle._failures) == 2 and "192.0.2.1" not in throttle._failures


async def test_a_hostile_path_is_kept_encoded_in_the_redirect_to_sign_in(api: Api) -> None:
    path = "/console/incidents/x%0d%0aSet-Cookie:%20ow_session=forged"
    async with api.client.get(path, allow_redirects=False) as response:
        assert response.status == SEE_OTHER
        location = response.headers["Location"]
    assert location.startswith("/console/sign-in?next=") and "x%0D%0ASet-Cookie" in location
    assert "ow_session" not in response.cookies
