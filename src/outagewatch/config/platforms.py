"""A platform: its zone, holidays, distribution lists and services."""

from __future__ import annotations

import re
from email.utils import parseaddr
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from outagewatch.config.channels import PlatformOncall
from outagewatch.config.rules import RulesOverride
from outagewatch.config.services import Service

_ADDRESS = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


def _address(value: str) -> str:
    if not _ADDRESS.match(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value


def _mailbox(value: str) -> str:
    """``Name <addr>`` or a bare address, as a From header takes it."""
    if "\r" in value or "\n" in value:
        raise ValueError("must be one line")
    _, address = parseaddr(value)
    _address(address)
    return value


Address = Annotated[str, AfterValidator(_address)]
Mailbox = Annotated[str, AfterValidator(_mailbox)]


class Lists(BaseModel):
    """The two announcement types of the operations agreement, each with its own lists."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    incident: Annotated[list[Address], Field(min_length=1)]
    informational: Annotated[list[Address], Field(min_length=1)]


class Platform(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\r\n]+$")]
    timezone: str = "UTC"
    holidays: str | None = None
    lists: Lists
    services: Annotated[dict[Slug, Service], Field(min_length=1)]
    rules: RulesOverride | None = None
    oncall: PlatformOncall | None = None  # its own paging and chat routing
    # Tell the informational lists when a service becomes degraded and when it recovers
    # (one mail each, no hourly cadence); on-call hears of it either way.
    announce_degraded: bool = False

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)"
            ) from None
        return value

    @field_validator("holidays")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        if value is not None and value not in holidays.list_supported_countries():
            raise ValueError(f"unknown holiday country {value!r} (use an ISO code like DE or US)")
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
