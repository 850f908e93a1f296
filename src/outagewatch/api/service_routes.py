"""/api/v1/services: every monitored service, its state per vantage and its last sample."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from outagewatch.api.auth import requires
from outagewatch.api.context import context
from outagewatch.api.problems import json_response
from outagewatch.api.schemas import (
    Certificate,
    LastSample,
    ServiceList,
    ServiceOut,
    VantageState,
)
from outagewatch.detection.judgement import run_rules
from outagewatch.detection.rule import RunRules, State
from outagewatch.probes.certificates import TlsFacts
from outagewatch.store import certificates as certificate_store
from outagewatch.store import samples as sample_store


def _state(state: State | None, sample: dict[str, Any] | None, rules: RunRules, now: Any) -> str:
    if state is not None and state.outage is not None:
        return "outage"
    if sample is None:
        return "unknown"
    if state is not None and state.bad_for(now, rules).total_seconds() > 0:
        return "bad"
    return "bad" if sample["bad"] else "ok"


@requires("viewer")
async def list_services(request: web.Request) -> web.Response:
    ctx = context(request)
    now = ctx.clock()
    async with ctx.engine.connect() as conn:
        latest = await sample_store.latest_samples(conn)
        certificates = await certificate_store.all_seen(conn)
    items = []
    for pid, platform in ctx.config.platforms.items():
        for sid, service in platform.services.items():
            rules = ctx.config.rules_for(pid, sid)
            run = run_rules(rules)
            live = ctx.detector.live.get((pid, sid), {}) if ctx.detector else {}
            seen = {v for (p, s, v) in latest if (p, s) == (pid, sid)} | set(live)
            vantages = {}
            for vantage in sorted(seen):
                sample = latest.get((pid, sid, vantage))
                state = live.get(vantage)
                since = (
                    state.outage.started_at
                    if state and state.outage
                    else (state.bad_since if state else None)
                )
                vantages[vantage] = VantageState(
                    state=_state(state, sample, run, now),  # type: ignore[arg-type]
                    bad_since=since
                    if _state(state, sample, run, now) in ("bad", "outage")
                    else None,
                    last_sample=LastSample(**{k: sample[k] for k in LastSample.model_fields})
                    if sample
                    else None,
                    tls=_certificate(certificates.get((pid, sid, vantage))),
                )
            track = ctx.detector.tracks.get((pid, sid)) if ctx.detector else None
            overall = "outage" if track and track.in_outage else _worst(vantages)
            items.append(
                ServiceOut(
                    id=f"{pid}/{sid}", platform=pid, service=sid, protocol=service.protocol,
                    label=service.display, target=service.target, severity=service.severity,
                    state=overall, vantages=vantages,  # type: ignore[arg-type]
                )
            )  # fmt: skip
    return json_response(ServiceList(items=items))


def _certificate(seen: tuple[TlsFacts, datetime] | None) -> Certificate | None:
    if seen is None:
        return None
    facts, at = seen
    return Certificate(**facts.as_dict(), seen_at=at)


def _worst(vantages: dict[str, VantageState]) -> str:
    states = {v.state for v in vantages.values()}
    for state in ("bad", "ok"):
        if state in states:
            return state
    return "unknown"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/services", list_services)
