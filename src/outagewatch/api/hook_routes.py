"""Inbound acknowledgements: an engineer who acknowledges in the pager acknowledges the
outagewatch incident too, so that the on-call mail reminders stop.

``POST /api/v1/hooks/pagerduty`` takes PagerDuty's V3 webhooks, signed
(``X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the raw body>``, several during a secret
rotation; any one that matches a PagerDuty channel's ``webhook_secret`` is enough). The
incident is found through ``data.incident_key``, our dedup key.

``POST /api/v1/hooks/opsgenie`` takes Opsgenie's / JSM's outgoing webhook. Those carry no
signature, only custom headers: the integration must send ``X-Outagewatch-Token`` with the
channel's ``callback_token``. The incident is found through ``alert.alias``, our alias.

Either way no bearer token is asked; the key is only looked up among the alerts the
authenticated channel itself raised, so an event can only acknowledge what that channel
paged for. Each event is acted on once; a replay (or the vendor's own retry) answers 200
and changes nothing.
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
from outagewatch.config.channels import SECRET_MIN_LENGTH, OpsgenieChannel, PagerDutyChannel
from outagewatch.incidents import decisions as decide
from outagewatch.incidents.decisions import IncidentConflict
from outagewatch.incidents.engine import IncidentWriteConflict
from outagewatch.store import channel_alerts
from outagewatch.text import one_line

log = logging.getLogger("outagewatch.hooks")


def _bytes(header: str) -> bytes:
    # aiohttp hands over undecodable header bytes as surrogates: back to the bytes sent, so
    # that any header at all compares (and fails to match) instead of raising.
    return header.encode("utf-8", "surrogateescape")


def signed_by(body: bytes, header: str, secrets: dict[str, str]) -> list[str]:
    """The channels whose secret made one of the header's v1 signatures (constant time)."""
    offered = [_bytes(s.strip().removeprefix("v1=")) for s in header.split(",") if "v1=" in s]
    found = []
    for channel, secret in secrets.items():
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            found.append(channel)
    return found


def holders(presented: str, tokens: dict[str, str]) -> list[str]:
    """The channels whose callback token is the one presented (constant time)."""
    offered = _bytes(presented)
    return [c for c, t in tokens.items() if hmac.compare_digest(t.encode(), offered)]


def _secrets(ctx: ApiContext, kind: type, stem: str) -> dict[str, str]:
    """Read now, not at start-up: a rotated secret file is picked up at once. An empty or
    short one (a file emptied meanwhile) authenticates nobody."""
    found = {}
    for name, channel in ctx.config.channels.items():
        ref = channel.secrets().get(stem)
        if isinstance(channel, kind) and ref is not None:
            try:
                found[name] = read_secret(ref, SECRET_MIN_LENGTH[stem])
            except ValueError as exc:
                log.error("channels.%s.%s: %s", name, stem, exc)
    return found


def _answer(result: str, **extra: Any) -> web.Response:
    return web.json_response({"result": result, **extra})


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the stack
        return None


async def pagerduty(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await request.read()
    secrets = _secrets(ctx, PagerDutyChannel, "webhook_secret")
    if not secrets:
        return problem(404, "Not Found", "no PagerDuty channel has a webhook_secret")
    channels = signed_by(body, request.headers.get("X-PagerDuty-Signature", ""), secrets)
    if not channels:
        log.warning("refused a PagerDuty webhook from %s: no valid signature", request.remote)
        return problem(401, "Unauthorized", "the X-PagerDuty-Signature does not match")
    try:
        event = _json(body)["event"]
        event_id, event_type = str(event["id"]), str(event["event_type"])
        key = (event.get("data") or {}).get("incident_key")
        agent = (event.get("agent") or {}).get("summary")
    except (KeyError, TypeError, AttributeError):
        return problem(400, "Bad Request", "not a PagerDuty V3 webhook payload")
    if event_type != "incident.acknowledged":
        return _answer("ignored", reason=f"{event_type} needs nothing from outagewatch")
    return await _acknowledge(ctx, "pagerduty", event_id, key, channels, agent)


async def opsgenie(request: web.Request) -> web.Response:
    ctx = context(request)
    tokens = _secrets(ctx, OpsgenieChannel, "callback_token")
    if not tokens:
        return problem(404, "Not Found", "no Opsgenie channel has a callback_token")
    channels = holders(request.headers.get("X-Outagewatch-Token", ""), tokens)
    if not channels:
        log.warning("refused an Opsgenie webhook from %s: wrong token", request.remote)
        return problem(401, "Unauthorized", "the X-Outagewatch-Token does not match")
    try:
        payload = _json(await request.read())
        action, alert = str(payload["action"]), payload["alert"]
        # No event id in these webhooks: the alert, the action and its time name one.
        event_id = f"{alert['alertId']}:{action}:{alert.get('updatedAt', '')}"
        key, user = alert.get("alias"), alert.get("username")
    except (KeyError, TypeError, AttributeError):
        return problem(400, "Bad Request", "not an Opsgenie webhook payload")
    if action != "Acknowledge":
        return _answer("ignored", reason=f"{action} needs nothing from outagewatch")
    return await _acknowledge(ctx, "opsgenie", event_id, key, channels, user)


async def _acknowledge(
    ctx: ApiContext, source: str, event_id: str, key: Any, channels: list[str], user: Any
) -> web.Response:
    event_id = event_id[:128]  # the column's length
    async with ctx.engine.connect() as conn:
        if await channel_alerts.seen(conn, source, event_id):
            log.info("%s event %s seen before: ignored", source, event_id)
            return _answer("ignored", reason="this event was handled before")
        incident_id = await channel_alerts.incident_of(conn, str(key), channels) if key else None
    if incident_id is None:
        return _answer("ignored", reason="no alert of ours has this key")
    who = one_line(str(user or "unknown"), 100)
    actor, now = f"{source}:{who}", ctx.clock()
    try:
        incident = await ctx.incidents.act(
            incident_id, lambda i, _: decide.acknowledge(i, actor, now), now
        )
    except IncidentConflict as exc:
        result = _answer("ignored", reason=str(exc))
    except IncidentWriteConflict:
        return problem(503, "Service Unavailable", "the incident changed meanwhile; retry")
    else:
        log.warning("incident %s acknowledged in %s by %s", incident.ref, source, who)
        result = _answer("acknowledged", incident=incident.ref, by=actor)
    async with ctx.engine.begin() as conn:
        await channel_alerts.remember(conn, source, event_id, now)
    return result


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/hooks/pagerduty", pagerduty)
    app.router.add_post("/api/v1/hooks/opsgenie", opsgenie)
