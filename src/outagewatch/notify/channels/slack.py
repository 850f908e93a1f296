"""Slack incoming webhooks (and Mattermost's, which take the same ``text``).

One message per event: ``text`` carries the whole message (the notification text, and all
that Mattermost shows); Block Kit ``blocks`` lay it out in Slack: a header, the text, the
facts, a button to the console. Block Kit limits: 50 blocks, header text 150 characters,
section text 3000, context 10 elements, button text 75, URL 3000. Slack answers 200 ``ok``
and in plain text on errors (``invalid_payload``, ``no_service``); about one message per
second per webhook, more gets 429 with Retry-After.
"""

from __future__ import annotations

from typing import Any

from outagewatch.notify.channels.base import Answer, Message, post_json

MAX_HEADER = 150
MAX_SECTION = 3000
MAX_TEXT = 3900  # Slack truncates ``text`` beyond 40,000 but advises staying under 4,000
MAX_BUTTON = 75
MAX_URL = 3000
EMOJI = {"degraded": ":large_yellow_circle:", "degraded_ended": ":white_check_mark:",
         "opened": ":red_circle:", "acknowledged": ":eyes:", "update": ":memo:",
         "restored": ":large_green_circle:", "test": ":wave:"}  # fmt: skip


def escape(text: str) -> str:
    """Slack's mrkdwn takes &, < and > as markup: the three it wants escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def blocks(message: Message) -> dict[str, Any]:
    """The webhook body: ``text`` for notifications and Mattermost, ``blocks`` for Slack."""
    title = f"{EMOJI.get(message.event, '')} {message.title}".strip()
    facts = [
        f"*Severity* {message.severity}",
        f"*Platform* {escape(message.platform)}",
        f"*Services* {escape(', '.join(message.services) or '-')}",
        f"*Reference* {escape(message.key)}",
    ]
    if message.actor:
        facts.append(f"*By* {escape(message.actor)}")
    layout: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, MAX_HEADER)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(escape(message.text),
                                                                     MAX_SECTION)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f} for f in facts]},
    ]  # fmt: skip
    text = f"*{escape(message.title)}*\n{escape(message.text)}"
    if message.link and len(message.link) <= MAX_URL:
        button = {"type": "plain_text", "text": _clip(f"Open {message.key}", MAX_BUTTON)}
        layout.append(
            {"type": "actions", "elements": [{"type": "button", "text": button,
                                              "url": message.link}]}
        )  # fmt: skip
        text += f"\n<{message.link}|Open {escape(message.key)} in the console>"
    return {"text": _clip(text, MAX_TEXT), "blocks": layout}


class Slack:
    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self._url = url
        self.timeout = timeout

    async def notify(self, message: Message) -> Answer:
        body = blocks(message)
        return await post_json(self._url, body, limit=self.timeout, vendor="Slack", secret_url=True)
