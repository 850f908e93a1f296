"""/api/v1/services: every monitored service, its state per vantage and its last sample."""

from __future__ import annotations

import bisect
from datetime import datetime

from aiohttp import web

from outagewatch.api.auth import requires
from outagewatch.api.context import context
from outagewatch.api.paging import Page, PagingError, encode
from outagewatch.api.problems import json_response, problem
from outagewatch.api.schemas import (
    Certificate,
    LastSample,
    ServiceList,
    ServiceOut,
    VantageState,
)
from outagewatch.certificates import store as certificate_store
from outagewatch.config import Config
from outagewatch.states.facts import current_states
from outagewatch.tls.facts import TlsFacts

WORDS = {"ok": "ok", "bad": "bad", "outage": "outage", "no data": "unknown"}
OVERALL = {**WORDS, "maintenance": "maintenance", "degraded": "degraded"}


@requires("viewer")
async def list_services(request: web.Request) -> web.Response:
    """The services in (platform, service) order, a page at a time; each page reads the
    stored facts of its own services only."""
    ctx = context(request)
    try:
        page = Page.of(request)
    except PagingError as exc:
        return problem(400, "Bad request", str(exc))
    now = ctx.clock()
    keys = sorted_keys(ctx.config)
    start = bisect.bisect_right(keys, page.after) if page.after is not None else 0
    chosen = keys[start : start + page.limit]
    judged = ctx.states
    async with ctx.engine.connect() as conn:
        states, latest = await current_states(conn, ctx.config, judged, chosen, now)
        certificates = await certificate_store.seen_of(conn, chosen)
    items = []
    for state in states:
        pid, sid = state.key
        service = ctx.config.platforms[pid].services[sid]
        vantages = {}
        for vantage, seen in sorted(state.vantages.items()):
            sample = latest.get((pid, sid, vantage))
            vantages[vantage] = VantageState(
                state=WORDS[seen.state],  # type: ignore[arg-type]
                bad_since=seen.since if seen.state in ("bad", "outage") else None,
                last_sample=LastSample(**{k: sample[k] for k in LastSample.model_fields})
                if sample
                else None,
                tls=_certificate(certificates.get((pid, sid, vantage))),
            )
        items.append(
            ServiceOut(
                id=f"{pid}/{sid}", platform=pid, service=sid, protocol=service.protocol,
                label=service.display, target=service.target, severity=service.severity,
                state=OVERALL[state.state], vantages=vantages,  # type: ignore[arg-type]
            )
        )  # fmt: skip
    more = start + page.limit < len(keys)
    next_cursor = encode(chosen[-1]) if more and chosen else None
    return json_response(ServiceList(items=items, next_cursor=next_cursor))


_SORTED: list[tuple[object, list[tuple[str, str]]]] = []


def sorted_keys(config: Config) -> list[tuple[str, str]]:
    """Every service's key in order, sorted once per config (a reload makes a new one)."""
    if not _SORTED or _SORTED[0][0] is not config:
        keys = sorted((p, s) for p, v in config.platforms.items() for s in v.services)
        _SORTED[:] = [(config, keys)]
    return _SORTED[0][1]


def _certificate(seen: tuple[TlsFacts, datetime] | None) -> Certificate | None:
    if seen is None:
        return None
    facts, at = seen
    return Certificate(**facts.as_dict(), seen_at=at)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/services", list_services)
