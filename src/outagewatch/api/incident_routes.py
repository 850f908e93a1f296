"""/api/v1/incidents: list, show, report, acknowledge, update, restore, close."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.api.auth import ACTOR, requires
from outagewatch.api.context import ApiContext, context
from outagewatch.api.paging import DEFAULT_LIMIT, Page, PagingError, following, int_after
from outagewatch.api.problems import BadRequest, json_response, read_body
from outagewatch.api.schemas import (
    AffectedOut,
    IncidentCreate,
    IncidentDetail,
    IncidentList,
    IncidentOut,
    IncidentUpdate,
    Note,
    NotificationList,
    NotificationOut,
    TimelineEntry,
)
from outagewatch.durations import format_duration
from outagewatch.incidents import decisions as decide
from outagewatch.incidents import store as store
from outagewatch.incidents.actions import ACTIONS
from outagewatch.incidents.decisions import (
    Incident,
    IncidentConflict,
    IncidentDecision,
    IncidentError,
    PlatformInfo,
)

STATES = ("open", "acknowledged", "restored", "closed")


def incident_out(ctx: ApiContext, incident: Incident) -> dict[str, Any]:
    assert incident.id is not None
    audience = ctx.incidents.audiences.get(incident.platform)
    labels = audience.platform.services if audience else {}
    services = [
        AffectedOut(
            service=a.service,
            label=labels[a.service].label if a.service in labels else a.service,
            started_at=a.started_at,
            restored_at=a.restored_at,
            reported=a.reported,
        )
        for a in incident.services
    ]
    fields = {
        name: getattr(incident, name)
        for name in IncidentOut.model_fields
        if name not in ("services", "update_every", "started_at")
    }
    every = incident.update_every
    return {
        **fields,
        "services": services,
        "started_at": incident.started_at,
        "update_every": format_duration(every) if every is not None else None,
    }


@requires("viewer")
async def list_incidents(request: web.Request) -> web.Response:
    """Newest first, a page at a time (the cursor names the last incident of a page)."""
    state = request.query.get("state")
    if state is not None and state not in STATES:
        raise BadRequest(422, "Invalid query", f"state must be one of {', '.join(STATES)}")
    page = _page(request)
    ctx = context(request)
    async with ctx.engine.connect() as conn:
        found = await store.listing_page(conn, state, page.limit + 1, int_after(page))
    shown = found[: page.limit]
    last = [shown[-1].id] if shown else None
    return json_response(
        IncidentList(
            items=[IncidentOut(**incident_out(ctx, i)) for i in shown],
            next_cursor=following(last, len(found) > page.limit),
        )
    )


def _page(request: web.Request) -> Page:
    try:
        page = Page.of(request)
        int_after(page)
    except PagingError as exc:
        raise BadRequest(400, "Bad request", str(exc)) from None
    return page


async def _find(request: web.Request) -> store.Stored:
    key = request.match_info["id"]
    ctx = context(request)
    stored = None
    async with ctx.engine.connect() as conn:
        if key.isascii() and key.isdigit():
            if int(key) < 2**31:  # larger numbers are no id of ours (and overflow the column)
                stored = await store.load(conn, int(key))
        else:
            stored = await store.by_ref(conn, key)
    if stored is None:
        raise BadRequest(404, "Not found", f"no incident {key!r}")
    return stored


@requires("viewer")
async def show_incident(request: web.Request) -> web.Response:
    ctx = context(request)
    stored = await _find(request)
    incident_id = stored.incident.id
    assert incident_id is not None
    async with ctx.engine.connect() as conn:
        timeline = await store.timeline(conn, incident_id)
        mails, more = await _notifications(conn, incident_id, Page(DEFAULT_LIMIT, None))
    detail = IncidentDetail(
        **incident_out(ctx, stored.incident),
        timeline=[TimelineEntry(**{k: e[k] for k in TimelineEntry.model_fields}) for e in timeline],
        notifications=mails,
        notifications_next_cursor=more,
    )
    return json_response(detail)


@requires("viewer")
async def list_notifications(request: web.Request) -> web.Response:
    """The incident's notifications in the order they were made, a page at a time."""
    page = _page(request)
    stored = await _find(request)
    assert stored.incident.id is not None
    async with context(request).engine.connect() as conn:
        items, more = await _notifications(conn, stored.incident.id, page)
    return json_response(NotificationList(items=items, next_cursor=more))


async def _notifications(
    conn: AsyncConnection, incident_id: int, page: Page
) -> tuple[list[NotificationOut], str | None]:
    found = await store.notifications_of(conn, incident_id, page.limit + 1, int_after(page) or 0)
    shown = found[: page.limit]
    items = [NotificationOut(**{k: n[k] for k in NotificationOut.model_fields}) for n in shown]
    return items, following([shown[-1]["id"]] if shown else None, len(found) > page.limit)


@requires("oncall")
async def create_incident(request: web.Request) -> web.Response:
    body = await read_body(request, IncidentCreate)
    ctx = context(request)
    if body.platform not in ctx.incidents.audiences:
        raise BadRequest(422, "Invalid body", f"platform: no platform {body.platform!r}")
    now, actor = ctx.clock(), request[ACTOR]

    def build(platform: PlatformInfo, ref: str) -> IncidentDecision:
        return decide.open_reported(
            platform, tuple(body.services), ticket=body.ticket, ref=ref, actor=actor, now=now,
            user_impact=body.user_impact, etr=body.etr, severity=body.severity,
        )  # fmt: skip

    incident = await _decided(lambda: ctx.incidents.open_reported(body.platform, build, now))
    return json_response(IncidentOut(**incident_out(ctx, incident)), status=201)


async def _decided(run: Callable[[], Any]) -> Incident:
    try:
        result: Incident = await run()
    except IncidentConflict as exc:
        raise BadRequest(409, "Conflict", str(exc)) from None
    except IncidentError as exc:
        raise BadRequest(422, "Invalid request", str(exc)) from None
    return result


# The actions of incidents/actions.py: the path under /api/v1/incidents/{id}/ that takes
# each, and the body it reads.
ACTION_ROUTES: Mapping[str, tuple[str, type[Note] | type[IncidentUpdate]]] = {
    "acknowledge": ("ack", Note),
    "update": ("updates", IncidentUpdate),
    "restore": ("restore", Note),
    "close": ("close", Note),
}


def _action_route(
    name: str, model: type[Note] | type[IncidentUpdate]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    @requires("oncall")
    async def act(request: web.Request) -> web.Response:
        body = await read_body(request, model)
        if isinstance(body, IncidentUpdate) and not body.model_fields_set:
            raise BadRequest(
                422,
                "Invalid body",
                "give at least one of " + ", ".join(IncidentUpdate.model_fields),
            )
        ctx = context(request)
        action = ACTIONS[name](body, request[ACTOR], ctx.clock())
        stored = await _find(request)
        incident_id = stored.incident.id
        assert incident_id is not None
        incident = await _decided(lambda: ctx.incidents.act(incident_id, action, ctx.clock()))
        return json_response(IncidentOut(**incident_out(ctx, incident)))

    return act


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/incidents", list_incidents)
    app.router.add_post("/api/v1/incidents", create_incident)
    app.router.add_get("/api/v1/incidents/{id}", show_incident)
    app.router.add_get("/api/v1/incidents/{id}/notifications", list_notifications)
    for name, (path, model) in ACTION_ROUTES.items():
        app.router.add_post(f"/api/v1/incidents/{{id}}/{path}", _action_route(name, model))
