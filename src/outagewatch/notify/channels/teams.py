"""Microsoft Teams through a Workflows webhook, one Adaptive Card per event.

Office 365 connectors are retired; a Workflows flow ("When a Teams webhook request is
received", then "Post card in a chat or channel") takes a ``message`` whose attachment is
an Adaptive Card. The card keeps to version 1.4 (what Teams renders), with the schema's
required fields: ``type`` and ``version`` on the card, ``text`` on each TextBlock,
``facts`` (``title``, ``value``) on the FactSet, ``url`` on Action.OpenUrl. Workflows
answers 202 Accepted.
"""

from __future__ import annotations

from typing import Any

from outagewatch.notify.channels.base import Answer, Message, post_json

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"
COLOURS = {"degraded": "Warning", "degraded_ended": "Good",
           "opened": "Attention", "acknowledged": "Warning", "update": "Default",
           "restored": "Good", "test": "Accent"}  # fmt: skip


def card(message: Message) -> dict[str, Any]:
    facts = [
        {"title": "Severity", "value": str(message.severity)},
        {"title": "Platform", "value": message.platform},
        {"title": "Services", "value": ", ".join(message.services) or "-"},
        {"title": "Reference", "value": message.key},
    ]
    if message.actor:
        facts.append({"title": "By", "value": message.actor})
    content: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": [
            {
                "type": "TextBlock",
                "text": message.title,
                "weight": "Bolder",
                "size": "Medium",
                "color": COLOURS.get(message.event, "Default"),
                "wrap": True,
            },
            {"type": "TextBlock", "text": message.text, "wrap": True},
            {"type": "FactSet", "facts": facts},
        ],
    }
    if message.link:
        content["actions"] = [
            {"type": "Action.OpenUrl", "title": f"Open {message.key}", "url": message.link}
        ]
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": content,
            }
        ],
    }


class Teams:
    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self._url = url
        self.timeout = timeout

    async def notify(self, message: Message) -> Answer:
        body = card(message)
        return await post_json(self._url, body, limit=self.timeout, vendor="Teams", secret_url=True)
