"""The aiohttp application on ``api.listen``: /metrics, /healthz and /readyz."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from outagewatch.metrics import Metrics

METRICS: web.AppKey[Metrics] = web.AppKey("metrics", Metrics)
READY: web.AppKey[Callable[[], bool]] = web.AppKey("ready", Callable[[], bool])  # type: ignore[arg-type]


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers. Used by container health checks."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready = request.app[READY]()
    return web.json_response({"ready": ready}, status=200 if ready else 503)


def make_app(metrics_: Metrics, ready: Callable[[], bool]) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[METRICS] = metrics_
    app[READY] = ready
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app
