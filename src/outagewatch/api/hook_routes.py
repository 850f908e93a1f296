"""Inbound: ``POST /api/v1/hooks/pagerduty`` - an acknowledgement in PagerDuty acknowledges
the outagewatch incident, so that the on-call mail reminders stop.

No bearer token: PagerDuty signs its V3 webhooks instead (``X-PagerDuty-Signature:
v1=<hex HMAC-SHA256 of the raw body>``, several during a secret rotation; any one that
matches a configured ``webhook_secret`` of a PagerDuty channel is enough). The incident is
found through the alert's ``incident_key``, our dedup key, among the alerts that channel
triggered: an event can only acknowledge what this channel paged for. Each event id is
acted on once; a replay (or PagerDuty's own retry) answers 200 and changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from aiohttp import web

from outagewatch.api.context import ApiContext, context
from outagewatch.api.problems import problem
from outagewatch.config import read_secret
from outagewatch.config.channels import PagerDutyChannel
from outagewatch.incidents import decisions as decide
from outagewatch.incidents.decisions import IncidentConflict
from outagewatch.incidents.engine import Conflict
from outagewatch.probes.text import one_line
from outagewatch.store import channel_alerts

log = logging.getLogger("outagewatch.hooks")
SOURCE = "pagerduty"


def signed_by(body: bytes, header: str, secrets: dict[str, str]) -> list[str]:
    """The channels whose secret made one of the header's v1 signatures (constant time)."""
    offered = [
        s.strip().removeprefix("v1=") for s in header.split(",") if s.strip().startswith("v1=")
    ]
    found = []
    for channel, secret in secrets.items():
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            found.append(channel)
    return found


def _secrets(ctx: ApiContext) -> dict[str, str]:
    """Read now, not at start-up: a rotated secret file is picked up at once."""
    found = {}
    for name, channel in ctx.config.channels.items():
        ref = channel.secrets().get("webhook_secret")
        if isinstance(channel, PagerDutyChannel) and ref is not None:
            try:
                found[name] = read_secret(ref)
            except ValueError as exc:
                log.error("channels.%s.webhook_secret: %s", name, exc)
    return found


def _answer(result: str, **extra: Any) -> web.Response:
    return web.json_response({"result": result, **extra})


async def pagerduty(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await request.read()
    secrets = _secrets(ctx)
    if not secrets:
        return problem(404, "Not Found", "no PagerDuty channel has a webhook_secret")
    channels = signed_by(body, request.headers.get("X-PagerDuty-Signature", ""), secrets)
    if not channels:
        log.warning("refused a PagerDuty webhook from %s: no valid signature", request.remote)
        return problem(401, "Unauthorized", "the X-PagerDuty-Signature does not match")
    try:
        event = json.loads(body)["event"]
        event_id, event_type = str(event["id"]), str(event["event_type"])
    except (ValueError, KeyError, TypeError):
        return problem(400, "Bad Request", "not a PagerDuty V3 webhook payload")
    if event_type != "incident.acknowledged":
        return _answer("ignored", reason=f"{event_type} needs nothing from outagewatch")
    async with ctx.engine.connect() as conn:
        if await channel_alerts.seen(conn, SOURCE, event_id):
            log.info("PagerDuty event %s seen before: ignored", event_id)
            return _answer("ignored", reason="this event was handled before")
        key = (event.get("data") or {}).get("incident_key")
        incident_id = await channel_alerts.incident_of(conn, str(key), channels) if key else None
    if incident_id is None:
        return _answer("ignored", reason="no alert of ours has this incident_key")
    agent = one_line(str((event.get("agent") or {}).get("summary") or "unknown"), 100)
    actor, now = f"pagerduty:{agent}", ctx.clock()
    try:
        incident = await ctx.incidents.act(
            incident_id, lambda i, _: decide.acknowledge(i, actor, now), now
        )
    except IncidentConflict as exc:
        result = _answer("ignored", reason=str(exc))
    except Conflict:
        return problem(503, "Service Unavailable", "the incident changed meanwhile; retry")
    else:
        log.warning("incident %s acknowledged in PagerDuty by %s", incident.ref, agent)
        result = _answer("acknowledged", incident=incident.ref, by=actor)
    async with ctx.engine.begin() as conn:
        await channel_alerts.remember(conn, SOURCE, event_id, now)
    return result


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/hooks/pagerduty", pagerduty)
