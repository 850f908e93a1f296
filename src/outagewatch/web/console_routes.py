"""The on-call console: sign-in, home, an incident's page and its actions.

Each action is the API's: the same request model validates the form, the same entry of
incidents/actions.py decides, and the same engine call stores it and queues its mails.
Errors come back in the form, with what the engineer typed kept."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from outagewatch.api.context import context
from outagewatch.api.schemas import IncidentUpdate, Note
from outagewatch.incidents import store as store
from outagewatch.incidents.actions import ACTIONS
from outagewatch.incidents.decisions import IncidentError
from outagewatch.logs import printable
from outagewatch.store import tokens
from outagewatch.web import forms
from outagewatch.web.console_lists import Labels, home_data
from outagewatch.web.render import page
from outagewatch.web.session import (
    COOKIE,
    PATH,
    SESSIONS,
    SIGNIN_COOKIE,
    THROTTLE,
    Session,
    csrf_ok,
    current,
    guarded,
    set_cookie,
)  # fmt: skip
from outagewatch.web.status_data import when

log = logging.getLogger("outagewatch.web.console")
STATE_WORDS = {
    "pending": "queued",
    "sending": "sending",
    "sent": "sent",
    "failed": "failed",
    "superseded": "superseded",
}


async def refuse(
    request: web.Request, session: Session | None, status: int, message: str
) -> web.Response:
    return await page(request, "console_refused.html",
                      {"session": session, "message": message}, status=status)  # fmt: skip


def _safe_next(target: str | None) -> str:
    # Only a path of the console: never an open redirect to another site.
    if target and target.startswith(PATH) and not target.startswith("//"):
        return target
    return PATH


async def sign_in_form(request: web.Request) -> web.StreamResponse:
    if await current(request) is not None:
        raise web.HTTPSeeOther(_safe_next(request.query.get("next")))
    return await _sign_in_page(request, None, 200)


async def _sign_in_page(request: web.Request, error: str | None, status: int) -> web.Response:
    csrf = secrets.token_urlsafe(32)
    target = _safe_next(request.query.get("next"))
    context_ = {"session": None, "csrf": csrf, "error": error, "next": target}
    response = await page(request, "console_signin.html", context_, status=status)
    set_cookie(request, response, SIGNIN_COOKIE, csrf, max_age=3600)
    return response


async def sign_in(request: web.Request) -> web.StreamResponse:
    form = await forms.posted(request)
    if not csrf_ok(form.get("csrf"), request.cookies.get(SIGNIN_COOKIE)):
        return await _sign_in_page(request, "The sign-in form expired; please try again.", 403)
    ctx = context(request)
    now, client = ctx.clock(), request.remote or "unknown"
    throttle = request.app[THROTTLE]
    wait = throttle.retry_after(client, now)
    if wait is not None:
        seconds = max(1, int(wait.total_seconds()))
        response = await _sign_in_page(
            request, f"Too many failed sign-ins from your address; try again in {seconds} s.", 429
        )
        response.headers["Retry-After"] = str(seconds)
        return response
    async with ctx.engine.begin() as conn:
        found = await tokens.authenticate(conn, str(form.get("token", "")).strip(), now)
    if found is None:
        log.warning("console sign-in refused from %s: unknown or revoked token", printable(client))
        if throttle.failed(client, now):
            log.warning("console sign-in: %s failed %d times in %s; refused until it waits",
                        printable(client), throttle.limit, throttle.window)  # fmt: skip
        return await _sign_in_page(request, "That token is unknown or revoked.", 401)
    throttle.succeeded(client)
    session = request.app[SESSIONS].create(*found, now)
    log.info("console sign-in of %s from %s", found[0], printable(client))
    response = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))))
    set_cookie(
        request, response, COOKIE, session.id, int(ctx.config.web.session_lifetime.total_seconds())
    )
    response.del_cookie(SIGNIN_COOKIE, path=PATH)
    raise response


@guarded("viewer", refuse)
async def sign_out(request: web.Request, session: Session) -> web.StreamResponse:
    request.app[SESSIONS].end(session.id)
    response = web.HTTPSeeOther(f"{PATH}/sign-in")
    response.del_cookie(COOKIE, path=PATH)
    raise response


async def _home_data(request: web.Request) -> dict[str, Any]:
    return await home_data(request)  # web/console_lists.py: at the cost of what it shows


def _labels(request: web.Request) -> Labels:
    return Labels(context(request).config)


def _when(request: web.Request) -> Callable[[Any, str], str]:
    platforms = context(request).config.platforms
    return lambda moment, pid: when(moment, platforms[pid].zone)


def _since(now: datetime) -> Callable[[datetime], str]:
    """How long ago, as an engineer reads it at a glance: "7 min", "2 h 05 min"."""

    def since(moment: datetime) -> str:
        minutes = int((now - moment) / timedelta(minutes=1))
        return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"

    return since


@guarded("viewer", refuse)
async def home(request: web.Request, session: Session) -> web.StreamResponse:
    return await page(
        request, "console_home.html", {"session": session, **await _home_data(request)}
    )


@guarded("viewer", refuse)
async def incidents_partial(request: web.Request, session: Session) -> web.StreamResponse:
    """The incident list alone, for htmx's refresh every 15 s."""
    return await page(
        request, "_console_incidents.html", {"session": session, **await _home_data(request)}
    )


async def _load(request: web.Request) -> store.Stored | None:
    async with context(request).engine.connect() as conn:
        return await store.by_ref(conn, request.match_info["ref"])


async def _incident_page(
    request: web.Request, session: Session, stored: store.Stored, *,
    errors: forms.Errors | None = None, typed: dict[str, str] | None = None,
    form: str | None = None, status: int = 200,
) -> web.Response:  # fmt: skip
    ctx = context(request)
    incident = stored.incident
    assert incident.id is not None
    async with ctx.engine.connect() as conn:
        timeline = await store.timeline(conn, incident.id)
        mails = await store.notifications_of(conn, incident.id)
    labels = _labels(request)
    return await page(request, "console_incident.html", {
        "session": session, "incident": incident, "timeline": list(reversed(timeline)),
        "mails": mails, "states": STATE_WORDS, "errors": errors or {}, "typed": typed or {},
        "form": form, "done": request.query.get("done"), "when": _when(request),
        "label": lambda s: labels.get((incident.platform, s), s),
        "platform_name": ctx.config.platforms[incident.platform].name,
        "status_page": ctx.config.web.status_page,
    }, status=status)  # fmt: skip


@guarded("viewer", refuse)
async def incident(request: web.Request, session: Session) -> web.StreamResponse:
    stored = await _load(request)
    if stored is None:
        return await refuse(request, session, 404, f"No incident {request.match_info['ref']!r}.")
    return await _incident_page(request, session, stored)


@dataclass(frozen=True)
class ActionForm:
    """How the console takes an action of incidents/actions.py: the form (its name is also
    the last part of its path), the model that validates it and its datetime-local fields."""

    form: str
    model: type[Note] | type[IncidentUpdate] = Note
    times: tuple[str, ...] = ()


ACTION_FORMS: Mapping[str, ActionForm] = {
    "acknowledge": ActionForm("ack"),
    "update": ActionForm("update", IncidentUpdate, times=("etr",)),
    "restore": ActionForm("restore"),
    "close": ActionForm("close"),
}


def _action_route(
    name: str, taken: ActionForm
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    @guarded("oncall", refuse)
    async def act(request: web.Request, session: Session) -> web.StreamResponse:
        now = context(request).clock()
        stored = await _load(request)
        if stored is None or stored.incident.id is None:
            return await refuse(
                request, session, 404, f"No incident {request.match_info['ref']!r}."
            )
        posted = await forms.posted(request)
        body, errors = forms.parse(taken.model, posted, times=taken.times)
        if isinstance(body, IncidentUpdate) and not body.model_fields_set:
            errors = {"": "Give at least one of: message, user impact, ETR, cadence, severity."}
        if not errors:
            ctx = context(request)
            action = ACTIONS[name](body, session.actor, now)
            try:
                await ctx.incidents.act(stored.incident.id, action, ctx.clock())
            except IncidentError as exc:  # IncidentConflict included: a state that forbids it
                errors = {"": str(exc)}
        if errors:
            typed = forms.values(posted)
            return await _incident_page(
                request, session, stored, errors=errors, typed=typed, form=taken.form, status=422
            )
        raise web.HTTPSeeOther(f"{PATH}/incidents/{stored.incident.ref}?done={taken.form}")

    return act


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, home)
    app.router.add_get(f"{PATH}/sign-in", sign_in_form)
    app.router.add_post(f"{PATH}/sign-in", sign_in)
    app.router.add_post(f"{PATH}/sign-out", sign_out)
    app.router.add_get(f"{PATH}/partials/incidents", incidents_partial)
    app.router.add_get(f"{PATH}/incidents/{{ref}}", incident)
    for name, taken in ACTION_FORMS.items():
        app.router.add_post(f"{PATH}/incidents/{{ref}}/{taken.form}", _action_route(name, taken))
