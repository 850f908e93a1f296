"""The vendors' documented contracts, as checks of one request body each: what the
stand-ins in receivers.py refuse, as the vendor would.

* PagerDuty Events API v2: routing_key (32 characters), event_action trigger | acknowledge |
  resolve, dedup_key up to 255 (required to acknowledge or resolve), a trigger's payload
  with summary (up to 1024), source and severity critical | error | warning | info.
* Opsgenie / JSM alerts: message up to 130, alias 512, description 15000, entity 512,
  source and user 100, note 25000, priority P1-P5, at most 20 tags of 50, string details;
  actions on an alert name their identifierType.
* Slack Block Kit: text (the fallback), at most 50 blocks, header plain_text up to 150,
  section text 3000, context 10 elements, button text 75 and URL 3000.
* Adaptive Card: a message whose attachment has the card content type; the card's type and
  version, each TextBlock's text, each FactSet's facts (title, value), each OpenUrl's url.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

PD_ACTIONS = {"trigger", "acknowledge", "resolve"}
PD_SEVERITIES = {"critical", "error", "warning", "info"}
OG_PRIORITIES = {"P1", "P2", "P3", "P4", "P5"}


def pagerduty_problems(body: Any) -> list[str]:
    found = []
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    if not isinstance(body.get("routing_key"), str) or len(body["routing_key"]) != 32:
        found.append("routing_key must be the 32-character integration key")
    action = body.get("event_action")
    if action not in PD_ACTIONS:
        found.append(f"event_action must be one of {sorted(PD_ACTIONS)}")
    key = body.get("dedup_key")
    if action in ("acknowledge", "resolve") and not key:
        found.append("dedup_key is required to acknowledge or resolve")
    if key is not None and not (isinstance(key, str) and 0 < len(key) <= 255):
        found.append("dedup_key must be 1 to 255 characters")
    if action == "trigger":
        found += _trigger_problems(body)
    elif "payload" in body:
        found.append("only trigger events carry a payload")
    return found


def _trigger_problems(body: dict[str, Any]) -> list[str]:
    payload = body.get("payload")
    if not isinstance(payload, dict):
        return ["payload is required for trigger"]
    found = _sized(payload, "summary", 1024, required=True)
    found += [f"payload.{k} must not be null" for k, v in payload.items() if v is None]
    found += _sized(payload, "source", 255, required=True)
    if payload.get("severity") not in PD_SEVERITIES:
        found.append(f"payload.severity must be one of {sorted(PD_SEVERITIES)}")
    if "timestamp" in payload:
        try:
            datetime.fromisoformat(payload["timestamp"])
        except (TypeError, ValueError):
            found.append("payload.timestamp must be ISO 8601")
    for link in body.get("links", []):
        if not isinstance(link, dict) or not isinstance(link.get("href"), str):
            found.append("links[] need an href")
    return found


def _sized(body: dict[str, Any], key: str, limit: int, *, required: bool = False) -> list[str]:
    value = body.get(key)
    if value is None:
        return [f"{key} is required"] if required else []
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        return [f"{key} must be a string of 1 to {limit} characters"]
    return []


def opsgenie_problems(action: str, query: dict[str, str], body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    found = _sized(body, "user", 100) + _sized(body, "source", 100)
    if action == "create":
        found += _sized(body, "message", 130, required=True) + _sized(body, "alias", 512)
        found += _sized(body, "description", 15000) + _sized(body, "entity", 512)
        if body.get("priority", "P3") not in OG_PRIORITIES:
            found.append("priority must be P1 to P5")
        tags = body.get("tags", [])
        if len(tags) > 20 or any(not isinstance(t, str) or len(t) > 50 for t in tags):
            found.append("tags: at most 20, each at most 50 characters")
        details = body.get("details", {})
        if not all(isinstance(v, str) for v in details.values()):
            found.append("details values must be strings")
        return found
    if query.get("identifierType") not in ("id", "alias", "tiny"):
        found.append("identifierType must be id, alias or tiny")
    found += _sized(body, "note", 25000, required=action == "notes")
    return found


def slack_problems(body: Any) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("text"), str) or not body["text"]:
        return ["text is required (the notification fallback)"]
    blocks = body.get("blocks", [])
    found = [] if len(blocks) <= 50 else ["at most 50 blocks"]
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            text = block["text"]
            if text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 150:
                found.append("header: plain_text of 1 to 150 characters")
        elif kind == "section":
            if not 0 < len(block["text"].get("text", "")) <= 3000:
                found.append("section text: 1 to 3000 characters")
        elif kind == "context":
            if not 0 < len(block["elements"]) <= 10:
                found.append("context: 1 to 10 elements")
        elif kind == "actions":
            for element in block["elements"]:
                if not 0 < len(element["text"]["text"]) <= 75 or len(element["url"]) > 3000:
                    found.append("button: text up to 75, url up to 3000 characters")
        else:
            found.append(f"unexpected block type {kind!r}")
    return found


def teams_problems(body: Any) -> list[str]:
    if not isinstance(body, dict) or body.get("type") != "message":
        return ["type must be message"]
    attachments = body.get("attachments") or []
    if not attachments:
        return ["attachments: one Adaptive Card is needed"]
    found = []
    for attachment in attachments:
        if attachment.get("contentType") != "application/vnd.microsoft.card.adaptive":
            found.append("contentType must be application/vnd.microsoft.card.adaptive")
        card = attachment.get("content") or {}
        if card.get("type") != "AdaptiveCard" or not isinstance(card.get("version"), str):
            found.append("the card needs type AdaptiveCard and a version")
        for element in card.get("body", []):
            if element.get("type") == "TextBlock" and not isinstance(element.get("text"), str):
                found.append("TextBlock needs text")
            if element.get("type") == "FactSet":
                facts = element.get("facts")
                if not isinstance(facts, list) or not all(
                    isinstance(f.get("title"), str) and isinstance(f.get("value"), str)
                    for f in facts
                ):
                    found.append("FactSet needs facts with title and value")
        for action in card.get("actions", []):
            if action.get("type") == "Action.OpenUrl" and not action.get("url"):
                found.append("Action.OpenUrl needs url")
    return found
