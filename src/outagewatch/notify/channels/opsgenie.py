"""Opsgenie and Jira Service Management operations: one alert per incident.

Create on open (``alias`` = the incident reference, Opsgenie's dedup key), acknowledge on
ack, a note on each update, close on restoration; all by ``identifierType=alias``, so no
alert id needs keeping. JSM keeps Opsgenie's alert calls under another base URL
(``https://api.atlassian.com/jsm/ops/integration``); Opsgenie's own ends 5 April 2027.
Contract: ``Authorization: GenieKey <key>``; every call answers 202 with a ``requestId``
(processing is asynchronous); 422 is a request Opsgenie will never take.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from outagewatch.notify.channels.base import Answer, Message, post_json

PRIORITIES = {1: "P1", 2: "P2", 3: "P3", 4: "P5"}
MAX_MESSAGE = 130
MAX_ALIAS = 512
MAX_DESCRIPTION = 15000
MAX_NOTE = 25000
SOURCE = "outagewatch"


class Opsgenie:
    def __init__(self, api_key: str, *, base_url: str, url: str | None = None,
                 timeout: float = 30.0) -> None:  # fmt: skip
        self._api_key = api_key
        self.base_url = (url or base_url).rstrip("/")
        self.timeout = timeout

    def request(self, message: Message) -> tuple[str, dict[str, Any]]:
        """The path and body of the call a message becomes."""
        alias = message.key[:MAX_ALIAS]
        by_alias = f"/v2/alerts/{quote(alias, safe='')}/{{}}?identifierType=alias"
        actor = {"user": (message.actor or SOURCE)[:100], "source": SOURCE}
        if message.event in ("opened", "test"):
            body: dict[str, Any] = {
                "message": message.title[:MAX_MESSAGE],
                "alias": alias,
                "description": message.text[:MAX_DESCRIPTION],
                "priority": PRIORITIES.get(message.severity, "P3"),
                "source": SOURCE,
                "entity": message.platform[:512],
                "tags": ["outagewatch", f"sev{message.severity}"],
                "details": {"reference": message.key, "services": ", ".join(message.services)},
            }
            if message.link:
                body["details"]["console"] = message.link
            return "/v2/alerts", body
        if message.event == "acknowledged":
            return by_alias.format("acknowledge"), {**actor, "note": message.title[:MAX_NOTE]}
        if message.event == "restored":
            return by_alias.format("close"), {**actor, "note": message.text[:MAX_NOTE]}
        return by_alias.format("notes"), {**actor, "note": message.text[:MAX_NOTE]}

    async def notify(self, message: Message) -> Answer:
        path, body = self.request(message)
        return await post_json(
            self.base_url + path,
            body,
            headers={"Authorization": f"GenieKey {self._api_key}"},
            limit=self.timeout,
            vendor=f"Opsgenie {path.split('?')[0].rsplit('/', 1)[-1]}",
        )
