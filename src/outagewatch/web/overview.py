"""``/status`` for an estate of many platforms: the platforms a page at a time (100, in the
order of their ids, ``?cursor=`` for the next), grouped by their state now, and above them
the incidents open anywhere. A platform's state is the worst of its services' in the read
model (states/); the page reads the facts of its own platforms' services only, so it costs
what it shows, not what is monitored."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from outagewatch.api.context import context
from outagewatch.api.paging import PagingError, decode, encode
from outagewatch.config import Config
from outagewatch.incidents import store as incident_store
from outagewatch.incidents.decisions import Incident
from outagewatch.states.facts import current_states
from outagewatch.web.states import WORDS, StateName
from outagewatch.web.status_cache import (
    PageCache,
    Rendered,
    Renders,
    day_of,
    estate_signature,
)
from outagewatch.web.status_data import summary, worst

PLATFORMS = 100  # per page
GROUPS = ("Outage", "Degraded performance", "Under maintenance", "Some services have no data",
          "All services operational")  # fmt: skip


@dataclass(frozen=True)
class PlatformLine:
    id: str
    name: str
    state: str
    summary: str
    troubled: list[tuple[str, str]]  # (label, state) of the services not operational


@dataclass(frozen=True)
class Overview:
    groups: list[tuple[str, list[PlatformLine]]]
    incidents: list[tuple[Incident, str]]  # (incident, platform name), anywhere
    total: int
    first: int  # the number of the page's first platform, from 1
    next_cursor: str | None


_SORTED: list[tuple[object, list[str]]] = []


def platform_ids(config: Config) -> list[str]:
    """Every platform's id in order, sorted once per config (a reload makes a new one)."""
    if not _SORTED or _SORTED[0][0] is not config:
        _SORTED[:] = [(config, sorted(config.platforms))]
    return _SORTED[0][1]


def _start(request: web.Request, ids: list[str]) -> int:
    cursor = request.query.get("cursor")
    if not cursor:
        return 0
    try:
        after = decode(cursor)
    except PagingError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    return bisect.bisect_right(ids, str(after[0])) if after else 0


async def page(
    request: web.Request, cache: PageCache, renders: Renders, html: Callable[..., Rendered]
) -> Rendered:
    ctx = context(request)
    config, now = ctx.config, ctx.clock()
    ids = platform_ids(config)
    start = _start(request, ids)
    chosen = ids[start : start + PLATFORMS]
    judged = ctx.states
    async with ctx.engine.connect() as conn:
        key = (
            id(config),
            tuple(judged.version(p) for p in chosen) if judged is not None else None,
            await estate_signature(conn),
            day_of(now),
        )

    async def render() -> Rendered:
        keys = [(p, s) for p in chosen for s in config.platforms[p].services]
        async with ctx.engine.connect() as conn:
            states, _ = await current_states(conn, config, judged, keys, now)
            active = [
                *await incident_store.listing(conn, "open"),
                *await incident_store.listing(conn, "acknowledged"),
            ]
        words: dict[str, list[tuple[str, StateName]]] = {p: [] for p in chosen}
        for state in states:
            label = config.platforms[state.platform].services[state.service].display
            words[state.platform].append((label, WORDS[state.state]))
        lines = [_line(config, pid, words[pid]) for pid in chosen]
        more = start + PLATFORMS < len(ids)
        view = Overview(
            groups=[(g, [x for x in lines if x.summary == g]) for g in GROUPS],
            incidents=[(i, config.platforms[i.platform].name) for i in active
                       if i.platform in config.platforms],
            total=len(ids), first=start + 1,
            next_cursor=encode([chosen[-1]]) if more and chosen else None,
        )  # fmt: skip
        return await renders.run(lambda: html(request, "status_index.html", overview=view))

    return await cache.get(f"overview:{start}", key, render)


def _line(config: Config, pid: str, states: list[tuple[str, StateName]]) -> PlatformLine:
    troubled: list[tuple[str, str]] = [(label, s) for label, s in states if s != "operational"]
    words: set[str] = {s for _, s in states}
    return PlatformLine(pid, config.platforms[pid].name, worst(words), summary(words), troubled)
