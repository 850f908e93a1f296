"""The console's maintenance pages: the list, announcing a window, finishing one with its
outcome. The 3-business-day rule is the maintenance decision's own; the form only explains
its refusal, with the earliest start it would accept."""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from aiohttp import web

from outagewatch.api.context import context
from outagewatch.api.paging import PagingError, decode, encode, moment_and_id
from outagewatch.api.schemas import MaintenanceCreate, MaintenanceFinish
from outagewatch.maintenance import decisions as decide
from outagewatch.maintenance import store as store
from outagewatch.web import forms
from outagewatch.web.console_routes import refuse
from outagewatch.web.render import page
from outagewatch.web.session import PATH, Session, guarded
from outagewatch.web.status_data import when

LIST = f"{PATH}/maintenance"
WINDOWS = 100  # per page, latest start first


def older_than(cursor: str | None) -> tuple[datetime, int] | None:
    """The window a page of the list continues after (``?cursor=`` of the "older" link)."""
    try:
        return moment_and_id(decode(cursor)) if cursor else None
    except PagingError:
        raise web.HTTPBadRequest(text="cursor: not one this console gave out") from None


async def _page(
    request: web.Request, session: Session, *, errors: forms.Errors | None = None,
    typed: dict[str, str] | None = None, form: str | None = None,
    earliest: str | None = None, status: int = 200,
) -> web.Response:  # fmt: skip
    ctx = context(request)
    after = older_than(request.query.get("cursor"))
    async with ctx.engine.connect() as conn:
        windows = await store.listing_page(conn, None, None, WINDOWS + 1, after)
    more = (
        encode([windows[WINDOWS - 1].starts_at.isoformat(), windows[WINDOWS - 1].id or 0])
        if len(windows) > WINDOWS
        else None
    )
    windows = windows[:WINDOWS]
    platforms = ctx.config.platforms
    return await page(request, "console_maintenance.html", {
        "session": session, "windows": windows, "platforms": platforms,
        "errors": errors or {}, "typed": typed or {}, "form": form, "earliest": earliest,
        "done": request.query.get("done"), "older": more,
        "when": lambda moment, pid: when(moment, platforms[pid].zone),
    }, status=status)  # fmt: skip


@guarded("viewer", refuse)
async def listing(request: web.Request, session: Session) -> web.StreamResponse:
    return await _page(request, session)


@guarded("oncall", refuse)
async def create(request: web.Request, session: Session) -> web.StreamResponse:
    ctx = context(request)
    posted = await forms.posted(request)
    body, errors = forms.parse(
        MaintenanceCreate, posted, times=("starts_at", "ends_at"), lists=("services",)
    )
    earliest = None
    if body is not None:
        platform = ctx.config.platforms.get(body.platform)
        if platform is None:
            errors = {"platform": f"no platform {body.platform!r}"}
        elif ctx.maintenance is None:
            errors = {"": "maintenance is not served by this instance"}
        else:
            now = ctx.clock()
            build = functools.partial(
                decide.announce, platform=body.platform, services=tuple(body.services or ()),
                known_services=tuple(platform.services), kind=body.kind,
                starts_at=body.starts_at, ends_at=body.ends_at,
                expected_impact=body.expected_impact, actor=session.actor, now=now,
                zone=platform.zone, country=platform.holidays,
            )  # fmt: skip
            try:
                window = await ctx.maintenance.announce(lambda ref: build(ref=ref), now)
            except decide.TooSoon as exc:
                earliest = when(exc.earliest, platform.zone)
                errors = {"starts_at": (
                    "A planned window must be announced 3 business days ahead (weekends and "
                    f"{platform.holidays or 'no'} public holidays do not count). The earliest "
                    f"allowed start is {earliest}; or choose the kind emergency."
                )}  # fmt: skip
            except decide.MaintenanceError as exc:
                errors = {"": str(exc)}
            else:
                raise web.HTTPSeeOther(f"{LIST}?done=announced+{window.ref}")
    return await _page(request, session, errors=errors, typed=forms.values(posted),
                       form="create", earliest=earliest, status=422)  # fmt: skip


@guarded("oncall", refuse)
async def finish(request: web.Request, session: Session) -> web.StreamResponse:
    ctx = context(request)
    posted = await forms.posted(request)
    ref = request.match_info["ref"]
    body, errors = forms.parse(MaintenanceFinish, posted)
    async with ctx.engine.connect() as conn:
        stored = await store.by_ref(conn, ref)
    if stored is None or stored.maintenance.id is None:
        return await refuse(request, session, 404, f"No maintenance {ref!r}.")
    if body is not None and ctx.maintenance is not None:
        now, actor = ctx.clock(), session.actor

        def action(window: Any) -> decide.MaintenanceDecision:
            return decide.finish(window, body.successful, actor, now, body.note)

        try:
            await ctx.maintenance.act(stored.maintenance.id, action, now)
        except decide.MaintenanceError as exc:
            errors = {"": str(exc)}
        else:
            raise web.HTTPSeeOther(f"{LIST}?done=finished+{ref}")
    return await _page(request, session, errors=errors, typed={**forms.values(posted), "ref": ref},
                       form="finish", status=422)  # fmt: skip


def add_routes(app: web.Application) -> None:
    app.router.add_get(LIST, listing)
    app.router.add_post(LIST, create)
    app.router.add_post(f"{LIST}/{{ref}}/finish", finish)
