"""What every channel transport shares: the message it sends, the answer it reports, the
error it raises, and one JSON POST that sorts the vendor's answer into those.

The sender's loop (claim, retry, backoff) knows nothing of vendors; a transport knows
nothing of the outbox. Between them: `notify(message)` returns an `Answer` or raises a
`TransportError` that says whether trying again can help.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol

import aiohttp

from outagewatch import __version__
from outagewatch.text import one_line

# "degraded" and "degraded_ended" are a service's, below an outage: chat hears of them,
# a pager never (incidents/degraded.py enqueues them for chat channels only).
Event = Literal[
    "opened", "acknowledged", "update", "restored", "test", "degraded", "degraded_ended"
]
EVENTS: tuple[Event, ...] = (
    "opened", "acknowledged", "update", "restored", "test", "degraded", "degraded_ended"
)  # fmt: skip
MAX_RETRY_AFTER = 3600.0  # a Retry-After beyond an hour is a vendor's bug, not a plan
USER_AGENT = f"outagewatch/{__version__}"


@dataclass(frozen=True)
class Message:
    """One channel message, as the outbox row stores it (rendered when it was enqueued)."""

    id: str  # stable across retries (the row's Message-ID): Standard Webhooks' webhook-id
    event: Event
    key: str  # the dedup key: the incident reference
    title: str  # one line: "[OX Cloud EU de-1] [Sev 2] Outage: IMAP — detected"
    text: str  # what happened, a few lines
    severity: int
    platform: str  # the platform's name as customers know it
    services: tuple[str, ...]
    created_at: datetime
    actor: str | None = None  # who acknowledged or wrote the update
    link: str | None = None  # the incident in the console, when web.public_url is set

    def details(self) -> dict[str, Any]:
        """The row's ``details`` column: everything but what the row has already."""
        return {
            "event": self.event,
            "key": self.key,
            "severity": self.severity,
            "platform": self.platform,
            "services": list(self.services),
            "actor": self.actor,
            "link": self.link,
        }

    @classmethod
    def from_row(
        cls, message_id: str, kind: str, subject: str, text: str, created_at: datetime,
        details: Mapping[str, Any] | None,
    ) -> Message:  # fmt: skip
        """The message an outbox row holds. A row of the old unsigned webhook (queued before
        channels existed) has no details: its kind and text are all there is."""
        found = details or {"event": kind, "key": "", "severity": 0, "platform": "",
                            "services": []}  # fmt: skip
        return cls(
            id=message_id,
            event=found["event"],
            key=found["key"],
            title=subject,
            text=text,
            severity=int(found["severity"]),
            platform=found["platform"],
            services=tuple(found["services"]),
            created_at=created_at,
            actor=found.get("actor"),
            link=found.get("link"),
        )


@dataclass(frozen=True)
class Answer:
    """What the other side said: its status and, in a line, its words."""

    status: int
    detail: str

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.detail}".rstrip()


class TransportError(Exception):
    """The message did not get through. ``permanent``: the same request will never succeed
    (a 4xx the vendor means); otherwise the sender tries again, not before ``retry_after``
    seconds when the vendor said so."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class Transport(Protocol):
    async def notify(self, message: Message) -> Answer: ...


def retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After in seconds: delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER)


def vendor_words(body: bytes) -> str:
    """The vendor's own explanation, from its usual JSON error shapes or the plain text."""
    try:
        data = json.loads(body)
    except ValueError:
        return one_line(body.decode("utf-8", "replace"), 200)
    if not isinstance(data, dict):
        return one_line(str(data), 200)
    parts = [str(data[k]) for k in ("message", "error", "status") if data.get(k)]
    errors = data.get("errors")
    if isinstance(errors, list | dict) and errors:
        parts.append(json.dumps(errors, ensure_ascii=False))
    return one_line("; ".join(parts) or json.dumps(data, ensure_ascii=False), 300)


async def post_json(
    url: str,
    body: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    limit: float,
    vendor: str,
    secret_url: bool = False,
) -> Answer:
    """POST ``body``; 2xx is the answer, anything else a `TransportError`: 429 with its
    Retry-After, 5xx, 408, redirects and network trouble to try again, other 4xx for good.

    ``limit``: seconds for the whole exchange; ``vendor`` starts every error message.
    ``secret_url``: the URL carries a token (Slack, Teams): no error message names it.
    """
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    sent = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    where = "the webhook URL" if secret_url else url
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=limit)) as session,
            session.post(url, data=data, headers=sent, allow_redirects=False) as response,
        ):
            status = response.status
            said = vendor_words(await response.read())
            wait = retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
    except TimeoutError:
        raise TransportError(f"{vendor}: no answer from {where} within {limit:g}s") from None
    except aiohttp.InvalidURL:
        raise TransportError(f"{vendor}: {where} is not a valid URL", permanent=True) from None
    except aiohttp.ClientError as exc:
        reason = one_line(str(exc) or type(exc).__name__, 200)
        if secret_url:
            reason = reason.replace(url, "<url>")
        raise TransportError(f"{vendor}: cannot reach {where}: {reason}") from None
    answer = Answer(status, said)
    if 200 <= status < 300:
        return answer
    if status == 429:
        raise TransportError(f"{vendor}: rate limited: {answer}", retry_after=wait)
    permanent = 400 <= status < 500 and status != 408
    raise TransportError(f"{vendor}: {answer}", permanent=permanent, retry_after=wait)
