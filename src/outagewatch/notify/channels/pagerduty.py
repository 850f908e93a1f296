"""PagerDuty, Events API v2: trigger on open, acknowledge on ack, resolve on restoration.

The dedup key is the incident reference, so a trigger sent twice (at-least-once) is one
alert, and a resolve after a restart still finds it. The Events API has no note: updates
are not sent (re-triggering would append to the alert but could also re-open it).
Contract: https://developer.pagerduty.com/docs/events-API-v2/trigger-events/ - POST
/v2/enqueue, 202 ``{"status": "success", "dedup_key": ...}``; 400 is an invalid event
(never retried), 429 and 5xx are retried.
"""

from __future__ import annotations

from typing import Any

from outagewatch.notify.channels.base import Answer, Message, post_json

ENDPOINTS = {
    "us": "https://events.pagerduty.com/v2/enqueue",
    "eu": "https://events.eu.pagerduty.com/v2/enqueue",
}
SEVERITIES = {1: "critical", 2: "error", 3: "warning", 4: "info"}
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
ACTIONS = {"opened": "trigger", "test": "trigger", "acknowledged": "acknowledge",
           "restored": "resolve"}  # fmt: skip


class PagerDuty:
    def __init__(self, routing_key: str, *, region: str = "us", url: str | None = None,
                 timeout: float = 30.0) -> None:  # fmt: skip
        self._routing_key = routing_key
        self.url = url or ENDPOINTS[region]
        self.timeout = timeout

    def event(self, message: Message) -> dict[str, Any] | None:
        """The Events API v2 body for a message; None for what PagerDuty has no call for."""
        action = ACTIONS.get(message.event)
        if action is None:
            return None
        body: dict[str, Any] = {
            "routing_key": self._routing_key,
            "event_action": action,
            "dedup_key": message.key[:MAX_DEDUP_KEY],
        }
        if action == "trigger":
            body["payload"] = {
                "summary": message.title[:MAX_SUMMARY],
                "source": message.platform,
                "severity": SEVERITIES.get(message.severity, "error"),
                "timestamp": message.created_at.isoformat(),
                "class": "outage",
                "custom_details": {"text": message.text, "reference": message.key},
            }
            if message.services:
                body["payload"]["component"] = ", ".join(message.services)[:255]
            body["client"] = "outagewatch"
            if message.link:
                body["client_url"] = message.link
                body["links"] = [{"href": message.link, "text": f"{message.key} in outagewatch"}]
        return body

    async def notify(self, message: Message) -> Answer:
        body = self.event(message)
        if body is None:
            return Answer(0, f"nothing to send to PagerDuty for {message.event}")
        vendor = f"PagerDuty {body['event_action']}"
        return await post_json(self.url, body, limit=self.timeout, vendor=vendor)
