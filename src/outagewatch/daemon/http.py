"""The application on ``api.listen``: the API (api/) and the status page and console (web/),
two siblings composed here so that neither imports the other's routes."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from outagewatch.api.app import make_app as make_api_app
from outagewatch.api.context import ApiContext
from outagewatch.metrics import Metrics
from outagewatch.web import setup_web


def make_app(
    metrics: Metrics,
    ready: Callable[[], bool],
    api: ApiContext | None = None,
    leader: Callable[[], bool] | None = None,
) -> web.Application:
    app = make_api_app(metrics, ready, api, leader)
    if api is not None:
        setup_web(app, lambda: api.config)
    return app
