"""A generic webhook, signed as Standard Webhooks (https://www.standardwebhooks.com/).

Headers ``webhook-id`` (the outbox row's Message-ID: the same on every retry, so receivers
deduplicate), ``webhook-timestamp`` (the time of this attempt: receivers refuse old ones),
``webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`` made by the
``standardwebhooks`` library with the ``whsec_…`` secret. The body is
``{"type": "incident.<event>", "timestamp": ..., "data": {...}}``.

The old ``oncall.webhook`` is this channel without a secret: unsigned, the same body.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook as Signer

from outagewatch.notify.channels.base import Answer, Message, post_json


def envelope(message: Message) -> dict[str, Any]:
    return {
        "type": f"service.{message.event}"
        if message.event.startswith("degraded")
        else f"incident.{message.event}",
        "timestamp": message.created_at.isoformat(),
        "data": {
            "reference": message.key,
            "title": message.title,
            "text": message.text,
            "severity": message.severity,
            "platform": message.platform,
            "services": list(message.services),
            "actor": message.actor,
            "link": message.link,
        },
    }


class SignedWebhook:
    def __init__(self, url: str, secret: str | None, *, timeout: float = 30.0) -> None:
        self.url = url
        self._signer = Signer(secret) if secret else None
        self.timeout = timeout

    def headers(self, message: Message, body: str, now: datetime) -> dict[str, str]:
        stamp = int(now.timestamp())
        headers = {"webhook-id": message.id, "webhook-timestamp": str(stamp)}
        if self._signer is not None:
            moment = datetime.fromtimestamp(stamp, UTC)
            headers["webhook-signature"] = self._signer.sign(message.id, moment, body)
        return headers

    async def notify(self, message: Message) -> Answer:
        body = envelope(message)
        # Signed over exactly the bytes post_json sends: the same compact serialisation.
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        headers = self.headers(message, text, datetime.now(UTC))
        return await post_json(
            self.url, body, headers=headers, limit=self.timeout, vendor="webhook"
        )
