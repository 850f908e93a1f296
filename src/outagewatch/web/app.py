"""Mounting the web on the API's application: templates, static files and the routes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from outagewatch.config import Config
from outagewatch.web import console_maintenance, console_routes, status_routes
from outagewatch.web.session import SESSIONS, THROTTLE, Sessions
from outagewatch.web.throttle import SignInThrottle

STATIC = Path(__file__).parent / "static"
HTMX = "htmx-2.0.11.min.js"  # vendored from the npm package htmx.org 2.0.11 (0BSD)


def environment_options() -> dict[str, Any]:
    """The Jinja environment of the pages (also what bench/status_page.py renders with)."""
    return {
        "loader": jinja2.PackageLoader("outagewatch.web", "templates"),
        "autoescape": jinja2.select_autoescape(["html"], default=True),
        "undefined": jinja2.StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }


def setup_web(app: web.Application, config: Callable[[], Config]) -> None:
    """``config`` reads the current config: ``web:`` may change by a reload (the status page
    is mounted always, and answers 404 while ``web.status_page`` is off)."""
    env = aiohttp_jinja2.setup(app, **environment_options())
    env.globals["htmx"] = f"/static/{HTMX}"
    app[SESSIONS] = Sessions(lambda: config().web.session_lifetime)
    app[THROTTLE] = SignInThrottle()
    app.router.add_static("/static/", STATIC)
    status_routes.add_routes(app)
    console_routes.add_routes(app)
    console_maintenance.add_routes(app)
