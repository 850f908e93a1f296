"""Request and response bodies of the API, as pydantic models; the OpenAPI document is
generated from these same models, so the document and the code cannot drift apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from outagewatch.durations import parse_duration

OneLine = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\r\n\x00]*$")]
Text = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^[^\x00]*$")]
Severity = Annotated[int, Field(ge=1, le=4)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("etr", check_fields=False)
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """Times are kept and shown in UTC whatever offset the engineer wrote."""
        return value.astimezone(UTC) if value is not None else None


class IncidentCreate(_Body):
    """A customer-reported incident (the ticket process)."""

    platform: Name
    services: Annotated[list[Name], Field(min_length=1, max_length=16)]
    ticket: OneLine
    user_impact: OneLine | None = None
    etr: AwareDatetime | None = None
    severity: Severity | None = None


class IncidentUpdate(_Body):
    message: Text | None = None
    user_impact: OneLine | None = None
    etr: AwareDatetime | None = None
    update_every: Annotated[str, Field(examples=["30m", "1h"], max_length=20)] | None = None
    severity: Severity | None = None

    @field_validator("update_every")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    def cadence(self) -> timedelta | None:
        return parse_duration(self.update_every) if self.update_every is not None else None


class Note(_Body):
    note: Text | None = None


class AffectedOut(BaseModel):
    service: str
    label: str
    started_at: AwareDatetime
    restored_at: AwareDatetime | None
    reported: bool


class IncidentOut(BaseModel):
    id: int
    ref: str
    platform: str
    state: Literal["open", "acknowledged", "restored", "closed"]
    origin: Literal["detected", "customer"]
    severity: int
    severity_overridden: bool
    ticket: str | None
    user_impact: str | None
    etr: AwareDatetime | None
    update_every: str | None
    services: list[AffectedOut]
    opened_at: AwareDatetime
    started_at: AwareDatetime
    acknowledged_at: AwareDatetime | None
    acknowledged_by: str | None
    restored_at: AwareDatetime | None
    closed_at: AwareDatetime | None
    last_customer_mail_at: AwareDatetime | None
    next_update_at: AwareDatetime | None
    updates_sent: int


class TimelineEntry(BaseModel):
    id: int
    at: AwareDatetime
    kind: str
    actor: str
    detail: dict[str, str]


class NotificationOut(BaseModel):
    id: int
    kind: str
    audience: str
    channel: str
    recipients: list[str]
    subject: str
    message_id: str
    # superseded: never sent; the row ``superseded_by`` carries its news on
    state: Literal["pending", "sending", "sent", "failed", "superseded"]
    superseded_by: int | None
    stands_for: int  # notices this row carries (itself and those it superseded)
    relay: str | None  # host:port of the relay that delivered it
    attempts: int
    next_attempt_at: AwareDatetime
    last_error: str | None
    created_at: AwareDatetime
    sent_at: AwareDatetime | None


class IncidentDetail(IncidentOut):
    timeline: list[TimelineEntry]
    notifications: list[NotificationOut]  # the first page; the rest from .../notifications
    notifications_next_cursor: str | None = None


class IncidentList(BaseModel):
    items: list[IncidentOut]
    next_cursor: str | None = None  # pass as ?cursor= for the next page; null on the last


class NotificationList(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = None


class LastSample(BaseModel):
    started_at: AwareDatetime
    duration: float
    ok: bool
    bad: bool
    error_kind: str | None
    detail: str


class Certificate(BaseModel):
    """The certificate this vantage's probes last saw (also when verification failed)."""

    leaf_not_after: AwareDatetime
    chain_not_after: AwareDatetime
    leaf_not_before: AwareDatetime
    subject: str
    issuer: str
    sans: list[str]
    serial: str
    fingerprint_sha256: str
    version: str
    cipher: str
    verify_error: str | None
    seen_at: AwareDatetime


class VantageState(BaseModel):
    state: Literal["ok", "bad", "outage", "unknown"]
    bad_since: AwareDatetime | None
    last_sample: LastSample | None
    tls: Certificate | None = None


class ServiceOut(BaseModel):
    id: str
    platform: str
    service: str
    protocol: str
    label: str
    target: str
    severity: int
    state: Literal["ok", "bad", "degraded", "outage", "maintenance", "unknown"]
    vantages: dict[str, VantageState]


class ServiceList(BaseModel):
    items: list[ServiceOut]
    next_cursor: str | None = None  # pass as ?cursor= for the next page; null on the last


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[str] | None = None


class MaintenanceCreate(_Body):
    platform: Name
    services: Annotated[list[Name], Field(max_length=16)] | None = None  # omitted: all
    kind: Literal["planned", "emergency"]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    expected_impact: Text

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc_window(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class MaintenanceFinish(_Body):
    successful: bool
    note: Text | None = None


class MaintenanceExtend(_Body):
    ends_at: AwareDatetime

    @field_validator("ends_at")
    @classmethod
    def _utc_end(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class MaintenanceOut(BaseModel):
    id: int
    ref: str
    platform: str
    services: list[str]
    kind: Literal["planned", "emergency"]
    state: Literal["scheduled", "in_progress", "finished", "cancelled"]
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    expected_impact: str
    announced_at: AwareDatetime
    announced_by: str
    lead_time_seconds: float
    successful: bool | None
    outcome_note: str | None
    finished_at: AwareDatetime | None
    finished_by: str | None


class MaintenanceList(BaseModel):
    items: list[MaintenanceOut]
    next_cursor: str | None = None
