"""The inbound hooks in the OpenAPI document (api/hook_routes.py): no bearer token, each
authenticated by its vendor's way, a PagerDuty signature or the callback token header."""

from __future__ import annotations

from typing import Any

JSON, PROBLEM = "application/json", "application/problem+json"
SECURITY = {
    # v1=<hex HMAC-SHA256 of the raw body with the channel's webhook_secret>
    "pagerdutySignature": {"type": "apiKey", "in": "header", "name": "X-PagerDuty-Signature"},
    "callbackToken": {"type": "apiKey", "in": "header", "name": "X-Outagewatch-Token"},
}
HOOK_ANSWER = {
    "type": "object",
    "required": ["result"],
    "properties": {
        "result": {"type": "string", "enum": ["acknowledged", "ignored"]},
        "reason": {"type": "string"},
        "incident": {"type": "string"},
        "by": {"type": "string"},
    },
}
PAGERDUTY_EVENT = {
    "type": "object",
    "required": ["event"],
    "properties": {"event": {
        "type": "object",
        "required": ["id", "event_type"],
        "properties": {
            "id": {"type": "string"},
            "event_type": {"type": "string", "examples": ["incident.acknowledged"]},
            "agent": {"type": ["object", "null"], "properties": {"summary": {"type": "string"}}},
            "data": {"type": "object", "properties": {"incident_key": {"type": "string"}}},
        },
    }},
}  # fmt: skip
OPSGENIE_ACTION = {
    "type": "object",
    "required": ["action", "alert"],
    "properties": {
        "action": {"type": "string", "examples": ["Acknowledge"]},
        "alert": {
            "type": "object",
            "required": ["alertId"],
            "properties": {
                "alertId": {"type": "string"},
                "alias": {"type": "string"},
                "username": {"type": "string"},
                "updatedAt": {"type": "integer"},
            },
        },
    },
}


REFUSALS = {
    400: "Not the vendor's payload, or not JSON",
    401: "No valid signature (PagerDuty) or callback token (Opsgenie)",
    404: "No channel of this vendor has a webhook secret or callback token",
    413: "The body is too large",
    503: "The database does not answer, or the incident changed meanwhile; retry",
}


def _hook(
    summary: str, scheme: str, body: dict[str, Any], problem: dict[str, Any]
) -> dict[str, Any]:
    problems = {
        str(code): {"description": why, "content": {PROBLEM: {"schema": problem}}}
        for code, why in REFUSALS.items()
    }
    return {"post": {
        "summary": summary,
        "security": [{scheme: []}],
        "requestBody": {"required": True, "content": {JSON: {"schema": body}}},
        "responses": {
            "200": {"description": "Acted on, or ignored with the reason",
                    "content": {JSON: {"schema": HOOK_ANSWER}}},
            **problems,
        },
    }}  # fmt: skip


def paths(problem: dict[str, Any]) -> dict[str, Any]:
    """The hooks' path items; ``problem`` is the schema of a problem+json body."""
    return {
        "/api/v1/hooks/pagerduty": _hook(
            "PagerDuty V3 webhook: incident.acknowledged acknowledges the incident",
            "pagerdutySignature", PAGERDUTY_EVENT, problem,
        ),
        "/api/v1/hooks/opsgenie": _hook(
            "Opsgenie / JSM outgoing webhook: Acknowledge acknowledges the incident",
            "callbackToken", OPSGENIE_ACTION, problem,
        ),
    }  # fmt: skip
