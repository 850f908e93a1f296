"""Errors as ``application/problem+json`` (RFC 9457): bad input is a 4xx, never a 500."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from outagewatch.api.context import CONTEXT
from outagewatch.api.schemas import Problem
from outagewatch.logs import printable
from outagewatch.store.errors import classify

log = logging.getLogger("outagewatch.api")
PROBLEM = "application/problem+json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BodyT = TypeVar("BodyT", bound=BaseModel)


def request_line(request: web.Request) -> str:
    """Method and path for a log line: the path as sent (percent-encoding kept, no query),
    control characters escaped, so that no request can write a log line of its own."""
    return f"{request.method} {printable(request.raw_path.partition('?')[0])}"


def problem(status: int, title: str, detail: str, errors: list[str] | None = None) -> web.Response:
    body = Problem(title=title, status=status, detail=detail, errors=errors)
    return web.Response(
        status=status,
        text=body.model_dump_json(exclude_none=True),
        content_type=PROBLEM,
    )


class BadRequest(Exception):
    def __init__(self, status: int, title: str, detail: str, errors: list[str] | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail, self.errors = status, title, detail, errors


async def read_body(request: web.Request, model: type[BodyT]) -> BodyT:
    """Parse and validate a JSON body; every failure is a 4xx naming what is wrong."""
    raw = await request.read()  # past client_max_size aiohttp raises 413 itself
    try:
        data: Any = json.loads(raw) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(400, "Body is not JSON", f"the request body must be JSON: {exc}") from None
    except RecursionError:  # nested deeper than the parser's stack
        raise BadRequest(400, "Body is not JSON", "the request body is nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest(422, "Invalid body", "the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in exc.errors()
        ]
        raise BadRequest(422, "Invalid body", "; ".join(errors)[:1000], errors) from None


def json_response(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        status=status, text=model.model_dump_json(), content_type="application/json"
    )


@web.middleware
async def problems_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except BadRequest as exc:
        return problem(exc.status, exc.title, exc.detail, exc.errors)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = exc.reason or "Error"
        return problem(exc.status, reason, exc.text if exc.text and exc.text != reason else reason)
    except Exception as exc:
        url = request.app[CONTEXT].engine.url if CONTEXT in request.app else "?"
        trouble = classify(exc, url)
        if trouble is None:
            log.exception("unexpected error on %s", request_line(request))
            return problem(500, "Internal error", "an unexpected error; it has been logged")
        log.warning("%s: %s", request_line(request), trouble)  # one line, no trace
        return problem(503, "Database unavailable", "the database does not answer; try again")
