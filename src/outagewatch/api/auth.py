"""Bearer tokens and roles (``viewer`` < ``oncall`` < ``admin``) for the HTTP API.

A handler declares the least role it needs with ``@requires(role)``; ``auth_middleware``
enforces it and hands the handler ``request[ACTOR]`` (the token's name) and
``request[ROLE]``. Handlers without a declared role (metrics, health, the OpenAPI
document) are public. The presented token is never logged: not here, and not by aiohttp's
access log, whose format carries no request headers.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.api.problems import request_line
from outagewatch.store import tokens
from outagewatch.store.tokens import ROLES

log = logging.getLogger("outagewatch.api.auth")
PROBLEM = "application/problem+json"
RANK = {role: rank for rank, role in enumerate(ROLES)}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Middleware(Protocol):
    """What ``@web.middleware async def m(request, handler)`` is, parameter names included,
    so that it fits in one list with the other middlewares."""

    def __call__(
        self, request: web.Request, handler: Handler
    ) -> Coroutine[Any, Any, web.StreamResponse]: ...


H = TypeVar("H", bound=Handler)

# Typed keys: aiohttp warns on plain string keys in request storage (NotAppKeyWarning).
ACTOR: web.RequestKey[str] = web.RequestKey("actor", str)  # the token's name
ROLE: web.RequestKey[str] = web.RequestKey("role", str)


def problem(status: int, title: str, detail: str) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.Response(status=status, text=json.dumps(body), content_type=PROBLEM)


def requires(role: str) -> Callable[[H], H]:
    """Mark a handler as needing a token of at least ``role``."""
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")

    def mark(handler: H) -> H:
        cast(Any, handler).required_role = role
        return handler

    return mark


def required_role(request: web.Request) -> str | None:
    # The route's own handler, not the ``handler`` a middleware receives: with several
    # middlewares that one is a partial wrapping the next middleware.
    role: str | None = getattr(request.match_info.handler, "required_role", None)
    return role


def _bearer(request: web.Request) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def _unauthorized(detail: str, error: str | None = None) -> web.Response:
    response = problem(401, "Unauthorized", detail)
    # RFC 6750: say which scheme, and whether the token (rather than its absence) is wrong.
    response.headers["WWW-Authenticate"] = f'Bearer error="{error}"' if error else "Bearer"
    return response


def auth_middleware(
    engine: AsyncEngine, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> Middleware:
    @web.middleware
    async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
        needed = required_role(request)
        if needed is None:
            return await handler(request)
        presented = _bearer(request)
        if presented is None:
            log.info("refused %s: no bearer token", request_line(request))
            return _unauthorized("send the header Authorization: Bearer <token>")
        async with engine.begin() as conn:
            found = await tokens.authenticate(conn, presented, clock())
        if found is None:
            log.info("refused %s: unknown or revoked token", request_line(request))
            return _unauthorized("the token is unknown or revoked", "invalid_token")
        actor, role = found
        if RANK[role] < RANK[needed]:
            log.info("refused %s to %s: role %s", request_line(request), actor, role)
            response = problem(
                403, "Forbidden", f"this needs the {needed} role; token {actor!r} has {role}"
            )
            response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope"'
            return response
        request[ACTOR], request[ROLE] = actor, role
        return await handler(request)

    return authenticate


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address


async def api_may_start(engine: AsyncEngine, host: str) -> str | None:
    """Why the API must not listen on ``host``, or None when it may.

    Listening beyond loopback means other hosts are meant to use the API; with no token
    none of them can, so the set-up is unfinished. Refusing to start says so at once,
    instead of a 401 for every request to someone who has no way to get a token.
    """
    if is_loopback(host):
        return None
    async with engine.connect() as conn:
        if await tokens.has_active(conn):
            return None
    return (
        f"api.listen: the API refuses to start on a non-loopback address ({host or '*'})"
        " when no token exists; create one with"
        " 'outagewatch token create --name NAME --role admin' or listen on 127.0.0.1"
    )
