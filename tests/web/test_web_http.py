"""The status page and the console over HTTP, without a browser: what they show, what they
never show, their caching, feeds, sessions, CSRF and roles. tests/web/test_browser.py drives
the same pages in chromium against the real daemon."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import feedparser
import pytest
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.api.context import CONTEXT
from outagewatch.config import ConfigError, parse_config

from ..api.harness import Api
from ..incidents.world import config_for
from .harness import PUBLIC, csrf_of, mark_sent, sign_in, start_web

REPORT = {"platform": "eu-de-1", "services": ["webmail"], "ticket": "T-4711",
          "user_impact": "Users cannot log in to webmail."}  # fmt: skip
HTTP_OK, HTTP_SEE_OTHER, NOT_MODIFIED = 200, 303, 304
FORBIDDEN, UNAUTHORIZED, UNPROCESSABLE = 403, 401, 422


@pytest.fixture
async def api(migrated_sqlite: AsyncEngine, tmp_path: Path) -> AsyncIterator[Api]:
    harness = await start_web(migrated_sqlite, tmp_path)
    yield harness
    await harness.client.close()


async def report(api: Api) -> str:
    async with api.client.post(
        "/api/v1/incidents", json=REPORT, headers=api.auth("oncall")
    ) as response:
        assert response.status == 201
        ref: str = (await response.json())["ref"]
    await mark_sent(api)
    return ref


async def text(api: Api, path: str, status: int = HTTP_OK) -> str:
    async with api.client.get(path) as response:
        assert response.status == status, await response.text()
        return await response.text()


async def test_status_page_shows_the_incident_as_mailed_and_nothing_internal(api: Api) -> None:
    ref = await report(api)
    page = await text(api, "/status/eu-de-1")
    assert "Current incidents" in page and ref in page
    assert "we confirm an outage on OX Cloud EU de-1" in page  # the detected mail's own words
    assert f"Status page:  {PUBLIC}/status/eu-de-1/incidents/{ref}" in page  # the mail links here
    assert "Web-Mail" in page and "Outage</span>" in page
    for secret in ("127.0.0.1", "oncall@example.net", "oncall-alice", "[on-call]", "incidents-"):
        assert secret not in page
    assert page.count('class="bar ') == 4 * 90
    assert "23 Nov 2026: 0.0 % available, 1 incident" not in page  # no samples: no data
    assert "23 Nov 2026: no data" in page
    own = await text(api, f"/status/eu-de-1/incidents/{ref}")
    assert "we confirm an outage" in own and "Ongoing" in own


async def test_status_page_etag_gives_304_until_something_changes(api: Api) -> None:
    async with api.client.get("/status/eu-de-1") as first:
        tag = first.headers["ETag"]
    async with api.client.get("/status/eu-de-1", headers={"If-None-Match": tag}) as again:
        assert again.status == NOT_MODIFIED
    await report(api)
    async with api.client.get("/status/eu-de-1", headers={"If-None-Match": tag}) as changed:
        assert changed.status == HTTP_OK and changed.headers["ETag"] != tag


async def test_atom_feed_parses_and_carries_the_updates(api: Api) -> None:
    ref = await report(api)
    sid = await sign_in(api, "oncall")
    message = "The login service is being restarted on new hardware."
    async with api.client.post(
        f"/console/incidents/{ref}/update", data={"csrf": sid, "message": message}
    ) as response:
        assert response.status == HTTP_OK and "update posted" in await response.text()
    await mark_sent(api)
    body = await text(api, "/status/eu-de-1/feed.atom")
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.bozo_exception
    [entry] = feed.entries
    assert ref in entry.title and entry.link == f"{PUBLIC}/status/eu-de-1/incidents/{ref}"
    assert message in entry.content[0].value


async def test_maintenance_calendar_is_icalendar(api: Api) -> None:
    sid = await sign_in(api, "oncall")
    start = api.clock() + timedelta(days=7)
    form = {"csrf": sid, "platform": "eu-de-1", "kind": "planned", "services": "imap, smtp",
            "starts_at": f"{start:%Y-%m-%dT%H:%M}", "expected_impact": "IMAP restarts twice.",
            "ends_at": f"{start + timedelta(hours=2):%Y-%m-%dT%H:%M}"}  # fmt: skip
    async with api.client.post("/console/maintenance", data=form) as response:
        assert response.status == HTTP_OK and "announced" in await response.text()
    body = await text(api, "/status/eu-de-1/maintenance.ics")
    [event] = Calendar.from_ical(body).walk("VEVENT")
    assert event.decoded("dtstart") == start.replace(second=0, microsecond=0)
    assert "IMAP restarts twice." in str(event["description"])
    assert "IMAP, SMTP" in str(event["summary"])


async def test_planned_maintenance_too_soon_explains_the_earliest_start(api: Api) -> None:
    sid = await sign_in(api, "oncall")
    start = api.clock() + timedelta(days=1)  # T0 is a Monday: Thursday is the earliest
    form = {"csrf": sid, "platform": "eu-de-1", "kind": "planned",
            "starts_at": f"{start:%Y-%m-%dT%H:%M}", "expected_impact": "Kept as typed.",
            "ends_at": f"{start + timedelta(hours=2):%Y-%m-%dT%H:%M}"}  # fmt: skip
    async with api.client.post("/console/maintenance", data=form) as response:
        page = await response.text()
    assert response.status == UNPROCESSABLE
    assert "3 business days ahead" in page and "Earliest allowed start" in page
    assert "2026-11-26 10:00 UTC" in page
    assert ">Kept as typed.</textarea>" in page  # the input is kept


async def test_update_errors_are_shown_in_the_form_with_the_input_kept(api: Api) -> None:
    ref = await report(api)
    sid = await sign_in(api, "oncall")
    form = {"csrf": sid, "message": "Typed with care.", "update_every": "soon"}
    async with api.client.post(f"/console/incidents/{ref}/update", data=form) as response:
        page = await response.text()
    assert response.status == UNPROCESSABLE
    assert 'aria-invalid="true" aria-describedby="update-update_every-err"' in page
    assert ">Typed with care.</textarea>" in page and 'value="soon"' in page


async def test_a_form_without_its_csrf_token_is_refused(api: Api) -> None:
    ref = await report(api)
    await sign_in(api, "oncall")
    async with api.client.post(f"/console/incidents/{ref}/ack", data={"note": "x"}) as response:
        assert response.status == FORBIDDEN
        assert "security token" in await response.text()
    page = await text(api, f"/console/incidents/{ref}")
    assert "Not acknowledged" in page


async def test_a_viewer_sees_but_cannot_act(api: Api) -> None:
    ref = await report(api)
    sid = await sign_in(api, "viewer")
    page = await text(api, f"/console/incidents/{ref}")
    assert "needs the oncall role" in page and "/ack" not in page
    async with api.client.post(f"/console/incidents/{ref}/ack", data={"csrf": sid}) as response:
        assert response.status == FORBIDDEN
        assert "This needs the oncall role" in await response.text()


async def test_session_cookie_flags_and_sign_out(api: Api) -> None:
    async with api.client.get("/console/sign-in") as form:
        csrf = await csrf_of(form)
    data = {"csrf": csrf, "token": api.tokens["oncall"], "next": "/console"}
    async with api.client.post("/console/sign-in", data=data, allow_redirects=False) as response:
        assert response.status == HTTP_SEE_OTHER
        cookie = response.cookies["ow_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/console"
    assert int(cookie["max-age"]) == 12 * 3600
    assert not cookie["secure"]  # plain http on loopback; behind https it is set (next test)
    async with api.client.get("/console") as home:
        sid = await csrf_of(home)
    async with api.client.post("/console/sign-out", data={"csrf": sid}) as response:
        assert response.url.path == "/console/sign-in"
    async with api.client.get("/console", allow_redirects=False) as response:
        assert response.status == HTTP_SEE_OTHER
        assert response.headers["Location"].startswith("/console/sign-in")


async def test_secure_cookie_behind_https(api: Api) -> None:
    async with api.client.get("/console/sign-in") as form:
        csrf = await csrf_of(form)
    data = {"csrf": csrf, "token": api.tokens["oncall"], "next": "/console"}
    async with api.client.post(
        "/console/sign-in", data=data, allow_redirects=False,
        headers={"X-Forwarded-Proto": "https"},
    ) as response:  # fmt: skip
        assert response.cookies["ow_session"]["secure"]


async def test_a_wrong_token_signs_nobody_in(api: Api) -> None:
    async with api.client.get("/console/sign-in") as form:
        csrf = await csrf_of(form)
    data = {"csrf": csrf, "token": "ow_not-a-token", "next": "/console"}
    async with api.client.post("/console/sign-in", data=data) as response:
        assert response.status == UNAUTHORIZED
        assert "unknown or revoked" in await response.text()


async def test_restore_then_close_in_the_console(api: Api) -> None:
    ref = await report(api)
    sid = await sign_in(api, "oncall")
    for action, done in (("restore", "restored, the mail is queued"), ("close", "closed")):
        async with api.client.post(
            f"/console/incidents/{ref}/{action}", data={"csrf": sid}
        ) as response:
            assert response.status == HTTP_OK and done in await response.text()
    await mark_sent(api)
    page = await text(api, f"/status/eu-de-1/incidents/{ref}")
    assert "Resolved" in page and "the outage on OX Cloud EU de-1 is over" in page
    async with api.client.post(f"/console/incidents/{ref}/close", data={"csrf": sid}) as again:
        assert again.status == UNPROCESSABLE  # the decision's own refusal, shown in the page
        assert f"incident {ref} is closed; restore it before closing it" in await again.text()


async def test_emergency_maintenance_shows_on_the_page_and_is_finished(api: Api) -> None:
    sid = await sign_in(api, "oncall")
    start = api.clock()
    form = {"csrf": sid, "platform": "eu-de-1", "kind": "emergency", "services": "imap",
            "starts_at": f"{start:%Y-%m-%dT%H:%M}", "expected_impact": "IMAP restarts.",
            "ends_at": f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M}"}  # fmt: skip
    async with api.client.post("/console/maintenance", data=form) as response:
        page = await response.text()
        assert response.status == HTTP_OK and "announced" in page
    ref = page.split("announced ", 1)[1].split(".", 1)[0]
    status = await text(api, "/status/eu-de-1")
    assert 'IMAP <span class="badge s-maintenance">Maintenance</span>' in status
    assert "Emergency maintenance" in status and "IMAP restarts." in status
    maintenance = api.client.app[CONTEXT].maintenance
    assert maintenance is not None
    assert await maintenance.step(api.clock())  # the daemon's step starts the window
    finish = {"csrf": sid, "successful": "true", "note": "Went well."}
    async with api.client.post(f"/console/maintenance/{ref}/finish", data=finish) as response:
        page = await response.text()
        assert response.status == HTTP_OK and f"finished {ref}" in page
    assert "Outcome: successful — Went well." in page
    status = await text(api, "/status/eu-de-1")
    assert "No maintenance scheduled." in status and "Went well." not in status  # no notes


async def test_the_index_lists_every_platform(api: Api) -> None:
    page = await text(api, "/status")
    assert 'href="/status/eu-de-1"' in page and 'href="/status/us"' in page
    await text(api, "/status/nowhere", status=404)


@pytest.mark.parametrize(
    ("web", "error"),
    [
        ({"public_url": "status.example.net"}, "web.public_url"),
        ({"status_page": "sometimes"}, "web.status_page"),
        ({"theme": "dark"}, "web.theme"),
    ],
)
def test_bad_web_config_names_the_path(web: dict[str, object], error: str) -> None:
    data = config_for(25, Path("unused.db")).model_dump(mode="json", by_alias=True)
    with pytest.raises(ConfigError) as raised:
        parse_config({**data, "web": web})
    assert error in str(raised.value)
