"""/api/v1/maintenances: list, announce, finish, extend, cancel."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web

from outagewatch.api.auth import ACTOR, requires
from outagewatch.api.context import ApiContext, context
from outagewatch.api.paging import Page, PagingError, following, moment_and_id
from outagewatch.api.problems import BadRequest, json_response, read_body
from outagewatch.api.schemas import (
    MaintenanceCreate,
    MaintenanceExtend,
    MaintenanceFinish,
    MaintenanceList,
    MaintenanceOut,
    Note,
)
from outagewatch.maintenance import decisions as decide
from outagewatch.maintenance import store as store
from outagewatch.maintenance.decisions import Maintenance, MaintenanceDecision
from outagewatch.maintenance.engine import MaintenanceEngine

STATES = ("scheduled", "in_progress", "finished", "cancelled")


def maintenance_out(window: Maintenance) -> MaintenanceOut:
    fields = {n: getattr(window, n) for n in MaintenanceOut.model_fields if hasattr(window, n)}
    return MaintenanceOut(
        **{**fields, "services": list(window.services)},
        lead_time_seconds=window.lead_time.total_seconds(),
    )


@requires("viewer")
async def list_maintenances(request: web.Request) -> web.Response:
    """Latest start first, a page at a time (the cursor: the last window's start and id)."""
    state, platform = request.query.get("state"), request.query.get("platform")
    if state is not None and state not in STATES:
        raise BadRequest(422, "Invalid query", f"state must be one of {', '.join(STATES)}")
    try:
        page = Page.of(request)
        after = moment_and_id(page.after)
    except PagingError as exc:
        raise BadRequest(400, "Bad request", str(exc)) from None
    async with context(request).engine.connect() as conn:
        found = await store.listing_page(conn, platform, state, page.limit + 1, after)
    shown = found[: page.limit]
    last = [shown[-1].starts_at.isoformat(), shown[-1].id or 0] if shown else None
    return json_response(
        MaintenanceList(
            items=[maintenance_out(w) for w in shown],
            next_cursor=following(last, len(found) > page.limit),
        )
    )


async def _decided(run: Callable[[], Awaitable[Maintenance]]) -> Maintenance:
    try:
        return await run()
    except decide.TooSoon as exc:
        raise BadRequest(
            422, "Too soon", str(exc), [f"earliest_start: {exc.earliest.isoformat()}"]
        ) from None
    except decide.MaintenanceConflict as exc:
        raise BadRequest(409, "Conflict", str(exc)) from None
    except decide.MaintenanceError as exc:
        raise BadRequest(422, "Invalid request", str(exc)) from None


@requires("oncall")
async def create_maintenance(request: web.Request) -> web.Response:
    body = await read_body(request, MaintenanceCreate)
    ctx = context(request)
    platform = ctx.config.platforms.get(body.platform)
    if platform is None:
        raise BadRequest(422, "Invalid body", f"platform: no platform {body.platform!r}")
    now = ctx.clock()
    build = functools.partial(
        decide.announce, platform=body.platform, services=tuple(body.services or ()),
        known_services=tuple(platform.services), kind=body.kind, starts_at=body.starts_at,
        ends_at=body.ends_at, expected_impact=body.expected_impact, actor=request[ACTOR],
        now=now, zone=platform.zone, country=platform.holidays,
    )  # fmt: skip
    window = await _decided(lambda: _maintenance(ctx).announce(lambda ref: build(ref=ref), now))
    return json_response(maintenance_out(window), status=201)


def _maintenance(ctx: ApiContext) -> MaintenanceEngine:
    if ctx.maintenance is None:
        raise BadRequest(409, "Unavailable", "maintenance is not served by this instance")
    return ctx.maintenance


async def _act(
    request: web.Request, action: Callable[[Maintenance, str], MaintenanceDecision]
) -> web.Response:
    ctx = context(request)
    key = request.match_info["id"]
    async with ctx.engine.connect() as conn:
        stored = None
        if key.isascii() and key.isdigit():
            stored = await store.load(conn, int(key)) if int(key) < 2**31 else None
        else:
            stored = await store.by_ref(conn, key)
    if stored is None or stored.maintenance.id is None:
        raise BadRequest(404, "Not found", f"no maintenance {key!r}")
    window_id, actor = stored.maintenance.id, request[ACTOR]
    engine = _maintenance(ctx)
    window = await _decided(lambda: engine.act(window_id, lambda w: action(w, actor), ctx.clock()))
    return json_response(maintenance_out(window))


@requires("oncall")
async def finish(request: web.Request) -> web.Response:
    body = await read_body(request, MaintenanceFinish)
    now = context(request).clock()
    return await _act(
        request, lambda w, actor: decide.finish(w, body.successful, actor, now, body.note)
    )


@requires("oncall")
async def extend(request: web.Request) -> web.Response:
    body = await read_body(request, MaintenanceExtend)
    now = context(request).clock()
    return await _act(request, lambda w, actor: decide.extend(w, body.ends_at, actor, now))


@requires("oncall")
async def cancel(request: web.Request) -> web.Response:
    body = await read_body(request, Note)
    now = context(request).clock()
    return await _act(request, lambda w, actor: decide.cancel(w, actor, now, body.note))


def calendar(windows: list[Maintenance], domain: str, now: datetime) -> bytes:
    """RFC 5545 through icalendar, as the status page's feed: every text value escaped
    (CR and LF too, so that no value can start a property of its own), lines folded."""
    # icalendar takes about 100 ms to import: loaded at the first calendar, not at start-up.
    from icalendar import Calendar, Event

    cal = Calendar()
    cal.add("prodid", "-//outagewatch//maintenance//EN")
    cal.add("version", "2.0")
    for window in windows:
        what = "Emergency maintenance" if window.kind == "emergency" else "Maintenance"
        event = Event()
        event.add("uid", f"{window.ref}@{domain}")
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", window.starts_at.astimezone(UTC))
        event.add("dtend", window.ends_at.astimezone(UTC))
        event.add("summary", f"{what} {window.platform}: {', '.join(window.services)}")
        event.add("description", window.expected_impact)
        event.add("status", "CANCELLED" if window.state == "cancelled" else "CONFIRMED")
        cal.add_component(event)
    body: bytes = cal.to_ical()
    return body


@requires("viewer")
async def maintenance_calendar(request: web.Request) -> web.Response:
    ctx = context(request)
    platform = request.query.get("platform")
    if platform is not None and platform not in ctx.config.platforms:
        raise BadRequest(422, "Invalid query", f"platform: no platform {platform!r}")
    async with ctx.engine.connect() as conn:
        found = await store.listing(conn, platform, None)
    audiences = list(ctx.incidents.audiences.values())
    domain = audiences[0].domain if audiences else "outagewatch.invalid"
    return web.Response(
        body=calendar(found, domain, ctx.clock()), content_type="text/calendar", charset="utf-8"
    )


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/maintenances.ics", maintenance_calendar)
    app.router.add_get("/api/v1/maintenances", list_maintenances)
    app.router.add_post("/api/v1/maintenances", create_maintenance)
    app.router.add_post("/api/v1/maintenances/{id}/finish", finish)
    app.router.add_post("/api/v1/maintenances/{id}/extend", extend)
    app.router.add_post("/api/v1/maintenances/{id}/cancel", cancel)
