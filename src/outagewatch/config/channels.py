"""Paging and chat channels (DESIGN section 10, ``channels:``), and who gets which.

Secrets (routing keys, API keys, webhook URLs that carry their own token, signing secrets)
come only from an environment variable (``*_env``) or a file (``*_file``), never from the
YAML. Every channel takes an optional ``url:`` that replaces the vendor's endpoint: a proxy,
or a test receiver on loopback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from outagewatch.config.services import SecretRef, Severity

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
HttpUrl = Annotated[str, Field(pattern=r"^https?://[^\s/]+\S*$", max_length=2000)]
# A name under ``channels:``; an outbox row names one of them, or "mail", as its channel.
ChannelName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
PAGING = ("pagerduty", "opsgenie")  # follow the incident: trigger, acknowledge, resolve
CHAT = ("slack", "teams", "webhook")  # one message per event
CHANNEL_TYPES = (*PAGING, *CHAT)
# Secrets that authenticate a request (the inbound hooks') or sign one (webhooks): whoever
# guesses one acknowledges incidents or forges our messages, so a short one is refused.
SECRET_MIN_LENGTH = {"webhook_secret": 16, "callback_token": 16, "secret": 16}


def secret_ref(owner: BaseModel, stem: str) -> SecretRef | None:
    """The ``<stem>_env`` / ``<stem>_file`` pair of ``owner`` as a reference, or None."""
    env, file = getattr(owner, f"{stem}_env"), getattr(owner, f"{stem}_file")
    if env is None and file is None:
        return None
    return SecretRef(password_env=env, password_file=file)


def _one_source(owner: BaseModel, stem: str, *, required: bool, inline: str | None = None) -> None:
    given = [getattr(owner, f"{stem}_env") is not None, getattr(owner, f"{stem}_file") is not None]
    if inline is not None:
        given.append(getattr(owner, inline) is not None)
    names = [f"{stem}_env", f"{stem}_file", *([inline] if inline else [])]
    if sum(given) > 1 or (required and not any(given)):
        raise ValueError(f"give exactly one of {', '.join(names)}")


class _Channel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # The least severe incident this channel still hears of (default: oncall.min_severity).
    min_severity: Severity | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, data: Any) -> Any:
        for key in ("routing_key", "api_key", "secret", "webhook_secret", "callback_token"):
            if isinstance(data, dict) and key in data:
                raise ValueError(
                    f"a secret never goes into the YAML: use {key}_env (an environment "
                    f"variable) or {key}_file (a file)"
                )
        return data

    def secrets(self) -> dict[str, SecretRef]:
        """Every secret this channel names, by the config key that names it."""
        return {}

    @property
    def paging(self) -> bool:
        return getattr(self, "type", "") in PAGING


class PagerDutyChannel(_Channel):
    type: Literal["pagerduty"]
    routing_key_env: EnvName | None = None
    routing_key_file: Path | None = None
    region: Literal["us", "eu"] = "us"
    # The V3 webhook subscription's signing secret: enables POST /api/v1/hooks/pagerduty.
    webhook_secret_env: EnvName | None = None
    webhook_secret_file: Path | None = None
    url: HttpUrl | None = None

    @model_validator(mode="after")
    def _sources(self) -> PagerDutyChannel:
        _one_source(self, "routing_key", required=True)
        _one_source(self, "webhook_secret", required=False)
        return self

    def secrets(self) -> dict[str, SecretRef]:
        found = {"routing_key": secret_ref(self, "routing_key")}
        found["webhook_secret"] = secret_ref(self, "webhook_secret")
        return {k: v for k, v in found.items() if v is not None}


class OpsgenieChannel(_Channel):
    """Opsgenie, and Jira Service Management's operations API (same calls, other base URL)."""

    type: Literal["opsgenie"]
    api_key_env: EnvName | None = None
    api_key_file: Path | None = None
    base_url: HttpUrl = "https://api.opsgenie.com"
    # A token the outgoing webhook integration sends in the X-Outagewatch-Token header:
    # enables POST /api/v1/hooks/opsgenie (those webhooks carry no signature of their own).
    callback_token_env: EnvName | None = None
    callback_token_file: Path | None = None
    url: HttpUrl | None = None

    @model_validator(mode="after")
    def _sources(self) -> OpsgenieChannel:
        _one_source(self, "api_key", required=True)
        _one_source(self, "callback_token", required=False)
        return self

    def secrets(self) -> dict[str, SecretRef]:
        found = {"api_key": secret_ref(self, "api_key")}
        found["callback_token"] = secret_ref(self, "callback_token")
        return {k: v for k, v in found.items() if v is not None}


class _UrlIsTheSecret(_Channel):
    """Slack and Teams webhook URLs carry their own token: they are secrets themselves.
    ``url:`` stays allowed for a receiver that is no secret (a proxy, a test)."""

    url_env: EnvName | None = None
    url_file: Path | None = None
    url: HttpUrl | None = None

    @model_validator(mode="after")
    def _sources(self) -> _UrlIsTheSecret:
        _one_source(self, "url", required=True, inline="url")
        return self

    def secrets(self) -> dict[str, SecretRef]:
        ref = secret_ref(self, "url")
        return {"url": ref} if ref else {}


class SlackChannel(_UrlIsTheSecret):
    """A Slack incoming webhook; Mattermost's incoming webhooks take the same messages."""

    type: Literal["slack"]


class TeamsChannel(_UrlIsTheSecret):
    """A Microsoft Teams Workflows webhook ("When a Teams webhook request is received")."""

    type: Literal["teams"]


class WebhookChannel(_Channel):
    """Any HTTP endpoint, signed as Standard Webhooks (standardwebhooks.com)."""

    type: Literal["webhook"]
    url: HttpUrl
    secret_env: EnvName | None = None
    secret_file: Path | None = None
    # Only for the old ``oncall.webhook`` (kept working): an unsigned webhook.
    unsigned: bool = False

    @model_validator(mode="after")
    def _sources(self) -> WebhookChannel:
        _one_source(self, "secret", required=not self.unsigned)
        return self

    def secrets(self) -> dict[str, SecretRef]:
        ref = secret_ref(self, "secret")
        return {"secret": ref} if ref else {}


ChannelConfig = Annotated[
    PagerDutyChannel | OpsgenieChannel | SlackChannel | TeamsChannel | WebhookChannel,
    Field(discriminator="type"),
]


class PlatformOncall(BaseModel):
    """A platform's own routing: replaces ``oncall.channels`` / ``min_severity`` for it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: list[ChannelName] | None = None
    min_severity: Severity | None = None
