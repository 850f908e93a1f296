"""The public status page: ``/status``, ``/status/{platform}``, an incident's own page (the
one the mails link to), the Atom feed and the maintenance calendar. No token: nothing here
is more than the customers were already told.

Each is rendered once per change of what it shows and served from a cache
(web/status_cache.py): a request that finds its page current costs a few aggregate reads,
whatever the number of services monitored."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from email.utils import parseaddr

import aiohttp_jinja2
from aiohttp import web

from outagewatch.api.context import context
from outagewatch.api.ratelimit import Limits
from outagewatch.web import overview
from outagewatch.web.public import LIMITS, public
from outagewatch.web.status_cache import (
    PageCache,
    Rendered,
    Renders,
    day_of,
    platform_signature,
    rendered,
    respond,
)
from outagewatch.web.status_data import DAYS, PlatformView, RollupCache, read_platform
from outagewatch.web.status_data import shape_platform as shape

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROLLUPS: web.AppKey[RollupCache] = web.AppKey("web_rollups", RollupCache)
PAGES: web.AppKey[PageCache] = web.AppKey("web_pages", PageCache)
RENDERS: web.AppKey[Renders] = web.AppKey("web_renders", Renders)


async def _platform_cached(
    request: web.Request, name: str, produce: Callable[[PlatformView], Rendered]
) -> Rendered:
    """The page ``name`` of the platform in the path: from the cache while current, else
    read, shaped and produced (off the loop) once for everyone asking meanwhile."""
    ctx = context(request)
    pid = request.match_info["platform"]
    if pid not in ctx.config.platforms:
        raise web.HTTPNotFound(text=f"no platform {pid!r}")
    now, config = ctx.clock(), ctx.config
    judged = ctx.states
    since = (now - timedelta(days=DAYS + 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    async with ctx.engine.connect() as conn:
        key = (
            id(config),
            judged.version(pid) if judged is not None else None,
            await platform_signature(conn, pid, since),
            day_of(now),
        )
    renders = request.app[RENDERS]

    async def render() -> Rendered:
        async with ctx.engine.connect() as conn:
            facts = await read_platform(conn, config, judged, pid, now, request.app[ROLLUPS])
        return await renders.run(lambda: produce(shape(config, pid, now, facts)))

    return await request.app[PAGES].get(f"{name}:{pid}", key, render)


def _html(request: web.Request, template: str, **values: object) -> Rendered:
    page = aiohttp_jinja2.get_env(request.app).get_template(template)
    return rendered(request.app[RENDERS].template(page, values).encode(), "text/html")


def _base(request: web.Request, pid: str) -> str:
    # Never from the Host header: the config requires public_url with the status page.
    return f"{context(request).config.web.public_url or ''}/status/{pid}"


@public
async def platform_page(request: web.Request) -> web.StreamResponse:
    def produce(view: PlatformView) -> Rendered:
        return _html(request, "status_platform.html", view=view)

    return respond(request, await _platform_cached(request, "page", produce))


@public
async def incident_page(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["ref"]

    def produce(view: PlatformView) -> Rendered:
        found = [i for i in view.open_incidents + view.past_incidents if i.incident.ref == ref]
        if not found:
            raise web.HTTPNotFound(text=f"no incident {ref!r} on this page (older than 90 days?)")
        return _html(request, "status_incident.html", view=view, item=found[0])

    return respond(request, await _platform_cached(request, f"incident:{ref}", produce))


@public
async def feed(request: web.Request) -> web.StreamResponse:
    # feedgen (lxml) and icalendar take about 150 ms to import: loaded at the first feed
    # request, not at every daemon start, where a restart should be probing again at once.
    from outagewatch.web.feeds import atom

    base = _base(request, request.match_info["platform"])

    def produce(view: PlatformView) -> Rendered:
        return rendered(atom(view, base), "application/atom+xml")

    return respond(request, await _platform_cached(request, "feed", produce))


@public
async def maintenance_calendar(request: web.Request) -> web.StreamResponse:
    from outagewatch.web.feeds import calendar  # see feed()

    ctx = context(request)
    base = _base(request, request.match_info["platform"])
    sender = parseaddr(ctx.config.smtp.sender)[1] if ctx.config.smtp else ""
    domain = sender.rpartition("@")[2] or "outagewatch.invalid"

    def produce(view: PlatformView) -> Rendered:
        return rendered(calendar(view, base, domain), "text/calendar")

    return respond(request, await _platform_cached(request, "calendar", produce))


@public
async def index(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    if len(ctx.config.platforms) == 1:
        raise web.HTTPFound(f"/status/{next(iter(ctx.config.platforms))}")
    return respond(
        request, await overview.page(request, request.app[PAGES], request.app[RENDERS], _html)
    )


async def _abandon(app: web.Application) -> None:
    app[RENDERS].stopped.set()


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
    app[PAGES] = PageCache()
    app[RENDERS] = Renders()
    app[LIMITS] = Limits()
    app.on_shutdown.append(_abandon)
    app.router.add_get("/status", published(index))
    app.router.add_get("/status/{platform}", published(platform_page))
    app.router.add_get("/status/{platform}/incidents/{ref}", published(incident_page))
    app.router.add_get("/status/{platform}/feed.atom", published(feed))
    app.router.add_get("/status/{platform}/maintenance.ics", published(maintenance_calendar))
