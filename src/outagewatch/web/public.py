"""What every public route goes through: the per-client rate limit and the cap on requests
in flight (api/ratelimit.py), and, while the database does not answer yet (the daemon is
starting, or the database is away), a small HTML page asking to come back in a moment,
since who asks is a browser, not an API client: JSON problems are for the API."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from outagewatch.api.ratelimit import Limits, retry_after
from outagewatch.web.render import SECURITY_HEADERS
from outagewatch.web.status_cache import Abandoned

log = logging.getLogger("outagewatch.web")
LIMITS: web.AppKey[Limits] = web.AppKey("web_public_limits", Limits)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
STARTING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Status in a moment</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Starting</h1><p>The status page is starting; status in a moment.</p>
</main></body></html>
"""
BUSY = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Busy</title></head>
<body><main><h1>Busy</h1><p>Many are asking at once; please try again in a moment.</p>
</main></body></html>
"""


def _html(text: str, status: int, wait: str) -> web.Response:
    response = web.Response(text=text, status=status, content_type="text/html")
    response.headers.update(SECURITY_HEADERS)
    response.headers["Retry-After"] = wait
    response.headers["Cache-Control"] = "no-store"
    return response


def public(handler: Handler) -> Handler:
    @functools.wraps(handler)
    async def limited(request: web.Request) -> web.StreamResponse:
        limits = request.app[LIMITS]
        wait = limits.wait(request.remote or "", time.monotonic())
        if wait > 0:
            return _html(BUSY, 429, retry_after(wait))
        if not limits.enter():
            return _html(BUSY, 503, "1")
        try:
            return await handler(request)
        except Abandoned:  # the daemon stops: a restarted one answers in a moment
            return _html(STARTING, 503, "5")
        except (SQLAlchemyError, OSError) as exc:
            log.debug("status page while the database does not answer: %s", type(exc).__name__)
            return _html(STARTING, 503, "5")
        finally:
            limits.leave()

    return limited
