"""The public status page: ``/status``, ``/status/{platform}``, an incident's own page (the
one the mails link to), the Atom feed and the maintenance calendar. No token: nothing here
is more than the customers were already told."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from email.utils import parseaddr

from aiohttp import web

from outagewatch.api.context import context
from outagewatch.web.render import cached, render_text
from outagewatch.web.status_data import PlatformView, RollupCache, load_platform

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROLLUPS: web.AppKey[RollupCache] = web.AppKey("web_rollups", RollupCache)


async def _view(request: web.Request) -> PlatformView:
    ctx = context(request)
    pid = request.match_info["platform"]
    if pid not in ctx.config.platforms:
        raise web.HTTPNotFound(text=f"no platform {pid!r}")
    return await load_platform(
        ctx.engine, ctx.config, ctx.detector, pid, ctx.clock(), request.app[ROLLUPS]
    )


def _base(request: web.Request, pid: str) -> str:
    # Never from the Host header: the config requires public_url with the status page.
    return f"{context(request).config.web.public_url or ''}/status/{pid}"


async def index(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    if len(ctx.config.platforms) == 1:
        raise web.HTTPFound(f"/status/{next(iter(ctx.config.platforms))}")
    now = ctx.clock()
    views = [
        await load_platform(ctx.engine, ctx.config, ctx.detector, pid, now, request.app[ROLLUPS])
        for pid in ctx.config.platforms
    ]
    text = await render_text(request, "status_index.html", {"views": views})
    return cached(request, text.encode(), "text/html")


async def platform_page(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    text = await render_text(request, "status_platform.html", {"view": view})
    return cached(request, text.encode(), "text/html")


async def incident_page(request: web.Request) -> web.StreamResponse:
    view = await _view(request)
    ref = request.match_info["ref"]
    found = [i for i in view.open_incidents + view.past_incidents if i.incident.ref == ref]
    if not found:
        raise web.HTTPNotFound(text=f"no incident {ref!r} on this page (older than 90 days?)")
    text = await render_text(request, "status_incident.html", {"view": view, "item": found[0]})
    return cached(request, text.encode(), "text/html")


async def feed(request: web.Request) -> web.StreamResponse:
    # feedgen (lxml) and icalendar take about 150 ms to import: loaded at the first feed
    # request, not at every daemon start, where a restart should be probing again at once.
    from outagewatch.web.feeds import atom

    view = await _view(request)
    return cached(request, atom(view, _base(request, view.id)), "application/atom+xml")


async def maintenance_calendar(request: web.Request) -> web.StreamResponse:
    from outagewatch.web.feeds import calendar  # see feed()

    view = await _view(request)
    ctx = context(request)
    sender = parseaddr(ctx.config.smtp.sender)[1] if ctx.config.smtp else ""
    domain = sender.rpartition("@")[2] or "outagewatch.invalid"
    return cached(request, calendar(view, _base(request, view.id), domain), "text/calendar")


def published(handler: Handler) -> Handler:
    """A page of the status page: 404 while ``web.status_page`` is off (read per request, so
    that a reload switches it on and off)."""

    @functools.wraps(handler)
    async def page(request: web.Request) -> web.StreamResponse:
        if not context(request).config.web.status_page:
            raise web.HTTPNotFound(text="this instance has no public status page")
        return await handler(request)

    return page


def add_routes(app: web.Application) -> None:
    app[ROLLUPS] = RollupCache()
    app.router.add_get("/status", published(index))
    app.router.add_get("/status/{platform}", published(platform_page))
    app.router.add_get("/status/{platform}/incidents/{ref}", published(incident_page))
    app.router.add_get("/status/{platform}/feed.atom", published(feed))
    app.router.add_get("/status/{platform}/maintenance.ics", published(maintenance_calendar))
