"""The aiohttp application on ``api.listen``: the on-call API, /metrics, /healthz, /readyz."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from outagewatch.api import (
    hook_routes,
    incident_routes,
    maintenance_routes,
    openapi,
    service_routes,
)
from outagewatch.api.auth import auth_middleware
from outagewatch.api.context import CONTEXT, ApiContext
from outagewatch.api.problems import problems_middleware
from outagewatch.api.scrape import OneScrape
from outagewatch.metrics import Metrics
from outagewatch.web import setup_web

METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
SCRAPE: web.AppKey[OneScrape] = web.AppKey("scrape", OneScrape)
READY: web.AppKey[Callable[[], bool]] = web.AppKey("ready", Callable[[], bool])  # type: ignore[arg-type]
LEADER: web.AppKey[Callable[[], bool]] = web.AppKey("leader", Callable[[], bool])  # type: ignore[arg-type]
MAX_BODY = 64 * 1024  # an update is a few hundred bytes; anything near this is an attack


async def metrics(request: web.Request) -> web.Response:
    # Prometheus asks for gzip: at 10,000 services it is 1-2 MB instead of 13 MB.
    compressed = "gzip" in request.headers.get("Accept-Encoding", "")
    body = await request.app[SCRAPE].body(compressed)
    headers = {"Content-Type": CONTENT_TYPE_LATEST}
    if compressed:
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, headers=headers)


async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers. Used by container health checks."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database answers and the scheduler runs."""
    ready = request.app[READY]()
    if ready and CONTEXT in request.app:
        try:
            async with request.app[CONTEXT].engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except Exception:  # any database failure means: not ready
            ready = False
    leader = request.app[LEADER]() if LEADER in request.app else None
    return web.json_response({"ready": ready, "leader": leader}, status=200 if ready else 503)


def make_app(
    metrics_: Metrics,
    ready: Callable[[], bool],
    api: ApiContext | None = None,
    leader: Callable[[], bool] | None = None,
) -> web.Application:
    middlewares = [problems_middleware]
    if api is not None:
        middlewares.append(auth_middleware(api.engine))
    app = web.Application(client_max_size=MAX_BODY, middlewares=middlewares)
    app[METRICS] = metrics_
    app[SCRAPE] = OneScrape(lambda compressed: metrics_.exposition(compressed=compressed))
    app[READY] = ready
    if leader is not None:
        app[LEADER] = leader
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if api is not None:
        app[CONTEXT] = api
        openapi.add_routes(app)
        service_routes.add_routes(app)
        incident_routes.add_routes(app)
        maintenance_routes.add_routes(app)
        setup_web(app, lambda: api.config)  # the status page and the on-call console (web/)
        hook_routes.add_routes(app)
    return app
