"""Console sessions: an API token is exchanged once for a session cookie.

The cookie holds only a random session id (HttpOnly, SameSite=Strict, Secure when the
request came over https, directly or through a proxy that says so, Path=/console); the
token itself is never stored. Every state-changing form carries the session's CSRF token.
Sessions live in this process's memory: a restart signs everyone out, which is the safe
way to lose them. The token's revocation ends its sessions at their next request.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from hmac import compare_digest
from urllib.parse import urlencode

from aiohttp import web

from outagewatch.api.auth import RANK
from outagewatch.api.context import context
from outagewatch.store import tokens
from outagewatch.web import forms
from outagewatch.web.throttle import SignInThrottle

COOKIE = "ow_session"
SIGNIN_COOKIE = "ow_signin"  # double-submit token of the sign-in form (no session yet)
PATH = "/console"
PER_TOKEN = 20  # sessions of one token at once: an engineer's browsers and devices


@dataclass(frozen=True)
class Session:
    id: str
    actor: str
    role: str
    csrf: str
    expires_at: datetime

    def may(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


class Sessions:
    """The live sessions, at most ``per_token`` of each token (the oldest ends first): a
    token signing in again and again costs a bounded amount of memory."""

    def __init__(self, lifetime: Callable[[], timedelta], per_token: int = PER_TOKEN) -> None:
        self.lifetime = lifetime  # read at each sign-in: web.session_lifetime may be reloaded
        self.per_token = per_token
        self._by_id: dict[str, Session] = {}  # in order of creation

    def create(self, actor: str, role: str, now: datetime) -> Session:
        self._drop_expired(now)
        own = [k for k, s in self._by_id.items() if s.actor == actor]
        for key in own[: max(0, len(own) - self.per_token + 1)]:
            del self._by_id[key]
        session = Session(
            id=secrets.token_urlsafe(32), actor=actor, role=role,
            csrf=secrets.token_urlsafe(32), expires_at=now + self.lifetime(),
        )  # fmt: skip
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None, now: datetime) -> Session | None:
        session = self._by_id.get(session_id or "")
        if session is None or session.expires_at <= now:
            self._by_id.pop(session_id or "", None)
            return None
        return session

    def end(self, session_id: str | None) -> None:
        self._by_id.pop(session_id or "", None)

    def _drop_expired(self, now: datetime) -> None:
        for key in [k for k, s in self._by_id.items() if s.expires_at <= now]:
            del self._by_id[key]


SESSIONS: web.AppKey[Sessions] = web.AppKey("web_sessions", Sessions)
THROTTLE: web.AppKey[SignInThrottle] = web.AppKey("web_sign_in_throttle", SignInThrottle)


def is_https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, max_age: int
) -> None:
    response.set_cookie(
        name, value, max_age=max_age, path=PATH, httponly=True, samesite="Strict",
        secure=is_https(request),
    )  # fmt: skip


async def current(request: web.Request) -> Session | None:
    ctx = context(request)
    now = ctx.clock()
    sessions = request.app[SESSIONS]
    session = sessions.get(request.cookies.get(COOKIE), now)
    if session is None:
        return None
    async with ctx.engine.connect() as conn:
        active = {t.name for t in await tokens.list_tokens(conn) if t.revoked_at is None}
    if session.actor not in active:
        sessions.end(session.id)
        return None
    return session


def csrf_ok(presented: object, expected: str | None) -> bool:
    """Fails closed: nothing expected (no cookie, no session) matches nothing presented."""
    if not expected or not isinstance(presented, str) or not presented:
        return False
    return compare_digest(
        presented.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


ConsoleHandler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]
Refusal = Callable[[web.Request, Session | None, int, str], Awaitable[web.StreamResponse]]


def guarded(
    role: str, refuse: Refusal
) -> Callable[[ConsoleHandler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """A console handler: signed in (else to the sign-in page), at least ``role``, and for a
    POST a CSRF token that matches the session's."""

    def wrap(handler: ConsoleHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def run(request: web.Request) -> web.StreamResponse:
            session = await current(request)
            if session is None:
                if request.headers.get("HX-Request"):
                    # htmx's refresh: send the whole page to the sign-in, not into the list.
                    return web.Response(headers={"HX-Redirect": f"{PATH}/sign-in"})
                if request.method == "GET":
                    raise web.HTTPSeeOther(f"{PATH}/sign-in?{urlencode({'next': request.path})}")
                return await refuse(request, None, 401, "You are not signed in (or the session "
                                    "expired). Sign in again; nothing was changed.")  # fmt: skip
            if request.method == "POST":
                form = await forms.posted(request)
                if not csrf_ok(form.get("csrf"), session.csrf):
                    return await refuse(request, session, 403, "This form's security token is "
                                        "missing or stale; nothing was changed. Reload the page "
                                        "and try again.")  # fmt: skip
            if not session.may(role):
                return await refuse(request, session, 403, f"This needs the {role} role; "
                                    f"{session.actor} has {session.role}.")  # fmt: skip
            return await handler(request, session)

        return run

    return wrap
