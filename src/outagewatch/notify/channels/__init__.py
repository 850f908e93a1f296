"""Paging and chat: one module per channel, each a small transport with one `notify()`.

Adding a channel is a new module here and one line in `build`; the outbox, the sender and
the other channels do not change.
"""

from __future__ import annotations

from collections.abc import Mapping

from outagewatch.config.channels import (
    ChannelConfig,
    OpsgenieChannel,
    PagerDutyChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
)
from outagewatch.config.load import read_secret
from outagewatch.notify.channels.base import Answer, Message, Transport, TransportError
from outagewatch.notify.channels.opsgenie import Opsgenie
from outagewatch.notify.channels.pagerduty import PagerDuty
from outagewatch.notify.channels.slack import Slack
from outagewatch.notify.channels.teams import Teams
from outagewatch.notify.channels.webhook import SignedWebhook

__all__ = ["Answer", "Message", "Transport", "TransportError", "build", "build_all"]


def _secret(channel: ChannelConfig, stem: str) -> str | None:
    ref = channel.secrets().get(stem)
    return read_secret(ref) if ref is not None else None


def build(channel: ChannelConfig, timeout: float) -> Transport:
    """The transport of a configured channel; its secrets are read now (ValueError if not)."""
    match channel:
        case PagerDutyChannel():
            key = _secret(channel, "routing_key")
            assert key is not None
            return PagerDuty(key, region=channel.region, url=channel.url, timeout=timeout)
        case OpsgenieChannel():
            key = _secret(channel, "api_key")
            assert key is not None
            return Opsgenie(key, base_url=channel.base_url, url=channel.url, timeout=timeout)
        case SlackChannel():
            return Slack(channel.url or _secret(channel, "url") or "", timeout=timeout)
        case TeamsChannel():
            return Teams(channel.url or _secret(channel, "url") or "", timeout=timeout)
        case WebhookChannel():
            return SignedWebhook(channel.url, _secret(channel, "secret"), timeout=timeout)
    raise AssertionError(f"no transport for {channel!r}")  # pragma: no cover - exhaustive


def build_all(channels: Mapping[str, ChannelConfig], timeout: float) -> dict[str, Transport]:
    return {name: build(channel, timeout) for name, channel in channels.items()}
