"""The whole configuration file (DESIGN section 6)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from outagewatch.config.platforms import Address, Mailbox, Platform, Slug
from outagewatch.config.rules import Duration, Rules, RulesOverride, merge_rules
from outagewatch.config.services import Host, Port, SecretRef, Service
from outagewatch.tls import TlsMode


def _listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080")
    return value


class Api(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:8080"

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class Relay(BaseModel):
    """The SMTP relay that outagewatch sends its own mail through."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    host: Host
    port: Port = 587
    tls: TlsMode = "starttls"
    tls_verify: bool = True
    ca_file: Path | None = None
    username: str | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    password_file: Path | None = None
    sender: Mailbox = Field(alias="from")

    @model_validator(mode="after")
    def _credentials(self) -> Relay:
        if self.username is not None:
            SecretRef(password_env=self.password_env, password_file=self.password_file)
        elif self.password_env or self.password_file:
            raise ValueError("a relay password needs a username")
        return self

    @property
    def secret(self) -> SecretRef | None:
        if self.username is None:
            return None
        return SecretRef(password_env=self.password_env, password_file=self.password_file)


class Oncall(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    email: Address
    webhook: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None


class Retention(BaseModel):
    """How long raw samples and their hourly roll-ups (for monthly reports) are kept."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: Duration = timedelta(days=14)
    rollups: Duration = timedelta(days=400)


class Outbox(BaseModel):
    """Delivery of the outbox: how long one send may take, how long a claim holds before
    another sender may retry a row (a sender that died mid-send), and the retry backoff."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    send_timeout: Duration = timedelta(seconds=30)
    lease: Duration = timedelta(minutes=5)
    retry_base: Duration = timedelta(seconds=30)
    retry_cap: Duration = timedelta(minutes=15)

    @model_validator(mode="after")
    def _lease_outlives_a_send(self) -> Outbox:
        if self.lease <= 2 * self.send_timeout:
            raise ValueError("lease must be more than twice send_timeout")
        if self.retry_cap < self.retry_base:
            raise ValueError("retry_cap must not be shorter than retry_base")
        return self


class MaintenanceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # A window nobody finished by ends_at + finish_grace is finished by outagewatch,
    # its outcome judged from the probes.
    finish_grace: Duration = timedelta(minutes=30)


class MetricsSettings(BaseModel):
    """What /metrics exports beyond the default budget of DESIGN section 10."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    # One series per phase of every probe: 5-8 more per service (opt-in: 10,000 services
    # would export 70,000 series more).
    phases: bool = False


class Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    vantage: Slug = "local"
    # Every vantage of the deployment (instances sharing one PostgreSQL); default: this one.
    vantages: list[Slug] | None = None
    # How soon a standby takes over when the leader's database lock frees.
    leader_takeover: Duration = timedelta(seconds=15)
    database: Annotated[str, Field(min_length=1)] = (
        "sqlite+aiosqlite:///var/lib/outagewatch/outagewatch.db"
    )
    api: Api = Api()
    smtp: Relay | None = None
    oncall: Oncall | None = None
    rules: RulesOverride | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    retention: Retention = Retention()
    outbox: Outbox = Outbox()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    metrics: MetricsSettings = MetricsSettings()
    platforms: Annotated[dict[Slug, Platform], Field(min_length=1)]

    def service(self, platform: str, service: str) -> Service:
        """The service named ``platform/service``; KeyError names what is missing."""
        if platform not in self.platforms:
            raise KeyError(f"no platform {platform!r} (have: {', '.join(self.platforms)})")
        services = self.platforms[platform].services
        if service not in services:
            raise KeyError(
                f"platform {platform!r} has no service {service!r} (have: {', '.join(services)})"
            )
        return services[service]

    def platform_rules(self, platform: str) -> Rules:
        """The rules of a platform as a whole (incident cadence, on-call repeat)."""
        return merge_rules(self.rules, self.platforms[platform].rules)

    def rules_for(self, platform: str, service: str) -> Rules:
        return merge_rules(
            self.rules, self.platforms[platform].rules, self.service(platform, service).rules
        )

    @property
    def all_vantages(self) -> list[str]:
        return self.vantages or [self.vantage]

    def vantages_for(self, platform: str, service: str) -> list[str]:
        return self.service(platform, service).vantages or self.all_vantages

    def quorum_for(self, platform: str, service: str) -> int:
        configured = self.service(platform, service).quorum
        return configured or len(self.vantages_for(platform, service)) // 2 + 1

    def vantage_problems(self) -> list[tuple[str, str]]:
        found = []
        if self.vantage not in self.all_vantages:
            found.append(("vantages", f"must include this instance's vantage {self.vantage!r}"))
        for pid, platform in self.platforms.items():
            for sid, service in platform.services.items():
                path = f"platforms.{pid}.services.{sid}"
                unknown = set(service.vantages or ()) - set(self.all_vantages)
                if unknown:
                    found.append((f"{path}.vantages", f"unknown vantages {sorted(unknown)}"))
                if service.quorum and service.quorum > len(self.vantages_for(pid, sid)):
                    found.append((f"{path}.quorum", "must not exceed the number of its vantages"))
        return found

    def rule_problems(self) -> list[tuple[str, str]]:
        """Cross-field rule problems, each with the config path where the service's rules live."""
        found = []
        for pid, platform in self.platforms.items():
            for sid in platform.services:
                for key, message in self.rules_for(pid, sid).problems():
                    found.append((f"platforms.{pid}.services.{sid}.rules.{key}", message))
        return found
