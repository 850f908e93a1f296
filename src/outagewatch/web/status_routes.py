"""The public status page: ``/status``, ``/status/{platform}``, an incident's own page (the
one the mails link to), the Atom feed and the maintenance calendar. No token: nothing here
is more than the customers were already told."""

from __future__ import annotations

from email.utils import parseaddr

from aiohttp import web

from outagewatch.api.context import context
from outagewatch.web.render import cached, render_text
from outagewatch.web.status_data import PlatformView, RollupCache, load_platform

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


def add_routes(app: web.Application) -> None:
    app[ROLLUPS] = RollupCache()
    app.router.add_get("/status", index)
    app.router.add_get("/status/{platform}", platform_page)
    app.router.add_get("/status/{platform}/incidents/{ref}", incident_page)
    app.router.add_get("/status/{platform}/feed.atom", feed)
    app.router.add_get("/status/{platform}/maintenance.ics", maintenance_calendar)
