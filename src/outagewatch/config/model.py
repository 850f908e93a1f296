"""The whole configuration file (DESIGN section 6)."""

from __future__ import annotations

import math
import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    model_validator,
)

from outagewatch.config.channels import ChannelConfig, ChannelName, WebhookChannel
from outagewatch.config.dns import DnsSettings, with_dns_defaults
from outagewatch.config.platforms import Address, Mailbox, Platform, Slug
from outagewatch.config.rules import Duration, Rules, RulesOverride, merge_rules
from outagewatch.config.services import (
    CLEARTEXT,
    Host,
    Port,
    SecretRef,
    Service,
    Severity,
    cleartext_auth,
)
from outagewatch.config.slo import Slo, SloOverride, merge_slo
from outagewatch.tls.contexts import TlsMode


def _listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be host:port, e.g. 127.0.0.1:8080 or [::1]:8080")
    return value


MAX_PROBE_WORKERS = 64


def _probe_workers(value: object) -> int | Literal["auto"]:
    if value == "auto" and isinstance(value, str):
        return "auto"
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_PROBE_WORKERS:
        return value
    raise ValueError(f"must be auto or a whole number from 0 to {MAX_PROBE_WORKERS}")


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The CPUs this process may run on, fewer where a cgroup's CPU quota (a container's
    limit) allows less: one worker per CPU the probes can actually have."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        quota, period = cgroup.read_text().split()
        limit = math.ceil(int(quota) / int(period))
    except (OSError, ValueError):  # no cgroup v2 limit here, or "max": no quota
        limit = None
    return max(1, min(cpus or 1, limit or cpus or 1))


def auto_probe_workers(cpus: int) -> int:
    """What ``probe_workers: auto`` starts on ``cpus`` usable CPUs: one worker per CPU, and
    none (the probe thread) on one CPU, where a worker would share the daemon's CPU as a
    process of equal standing: at 10,000 services on one CPU its probes that overlapped a
    scrape measured p99 12-39 ms, the thread's 7 ms (docs/BENCHMARKS.md)."""
    return cpus if cpus > 1 else 0


class Api(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:8080"

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class RelayEndpoint(BaseModel):
    """Where and how to reach one SMTP relay (the primary, or one of its fallbacks)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    host: Host
    port: Port = 587
    tls: TlsMode = "starttls"
    tls_verify: bool = True
    ca_file: Path | None = None
    username: str | None = None
    password_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    password_file: Path | None = None
    # A password sent without TLS to a relay beyond loopback is refused unless this says so.
    allow_cleartext_auth: bool = False

    @model_validator(mode="after")
    def _credentials(self) -> RelayEndpoint:
        if self.username is not None:
            SecretRef(password_env=self.password_env, password_file=self.password_file)
        elif self.password_env or self.password_file:
            raise ValueError("a relay password needs a username")
        has_auth = self.username is not None
        if cleartext_auth(self.host, self.tls, has_auth, self.allow_cleartext_auth):
            raise ValueError(f"tls: none with a username {CLEARTEXT}")
        return self

    @property
    def secret(self) -> SecretRef | None:
        if self.username is None:
            return None
        return SecretRef(password_env=self.password_env, password_file=self.password_file)

    @property
    def address(self) -> str:
        """host:port, as logs, metrics and the outbox name the relay (never a secret)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class Relay(RelayEndpoint):
    """The SMTP relay that outagewatch sends its own mail through, and the relays to use
    when it has failed for ``outbox.failover_after`` (same From, same Message-IDs)."""

    sender: Mailbox = Field(alias="from")
    fallback: list[RelayEndpoint] = []

    @property
    def endpoints(self) -> list[RelayEndpoint]:
        """The primary first, then the fallbacks in the order given."""
        return [self, *self.fallback]


class Oncall(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    email: Address
    # Deprecated: an unsigned webhook; now the channel "webhook" (see Config.all_channels).
    webhook: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    channels: list[ChannelName] = []  # names under channels:, told of every incident
    min_severity: Severity = 4  # the least severe incident the channels hear of (1 = worst)


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
    # A relay that failed is checked (connect, EHLO, NOOP) this often at most apart, never
    # faster than the retry backoff: when it answers, the backlog leaves at once.
    relay_check: Duration = timedelta(seconds=30)
    # After this long of failures on a relay, mail goes through the next one (smtp.fallback).
    failover_after: Duration = timedelta(minutes=5)

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


def _public_url(value: str) -> str:
    return value.rstrip("/")


class Web(BaseModel):
    """The status page (public, opt-in) and the on-call console (always, behind tokens)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status_page: bool = False
    # Where customers reach the status page; mails link to an incident's page under it.
    public_url: (
        Annotated[str, Field(pattern=r"^https?://[^\s/?#]+(/\S*)?$"), AfterValidator(_public_url)]
        | None
    ) = None
    session_lifetime: Duration = timedelta(hours=12)

    @model_validator(mode="after")
    def _public_url_with_the_page(self) -> Web:
        # The page's links and feeds are absolute; without public_url they would be made
        # from the request's Host header, which the client chooses.
        if self.status_page and self.public_url is None:
            raise ValueError(
                "public_url is required with status_page: true (where customers reach the"
                " page, e.g. https://status.example.net)"
            )
        return self


class TlsWarnings(BaseModel):
    """When on-call hears of an expiring certificate (certificates/decisions.py): by default
    21 days before, or a third of the lifetime when shorter, and 7 days before."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    warn_before: Duration | None = None
    critical_before: Duration = timedelta(days=7)


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
    slo: SloOverride | None = None  # objectives per service (config/slo.py)
    # Processes that run the probes (daemon/probe_workers.py): "auto", the default, is one per
    # CPU this process may run on (the thread on one CPU: auto_probe_workers); 0 probes on a
    # thread of the daemon's own process. At 10,000 services on the thread, a 20 ms service
    # measured p50 394 ms and p99 1.29 s while the daemon judged and served; on workers 22
    # and 25 ms (docs/BENCHMARKS.md).
    probe_workers: Annotated[int | Literal["auto"], PlainValidator(_probe_workers)] = "auto"
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    retention: Retention = Retention()
    outbox: Outbox = Outbox()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    channels: dict[ChannelName, ChannelConfig] = {}
    web: Web = Web()
    # Mail templates that replace the shipped ones file by file (docs/TEMPLATES.md).
    templates_dir: Path | None = None
    tls: TlsWarnings = TlsWarnings()
    metrics: MetricsSettings = MetricsSettings()
    # The resolvers of the DNS-based probes; each of them gets a copy (config/dns.py).
    dns: DnsSettings = DnsSettings()
    platforms: Annotated[dict[Slug, Platform], Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _dns_to_services(cls, data: Any) -> Any:
        return with_dns_defaults(data)

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

    def slo_for(self, platform: str, service: str) -> Slo:
        return merge_slo(
            self.slo, self.platforms[platform].slo, self.service(platform, service).slo
        )

    @property
    def probe_worker_count(self) -> int:
        """How many probe worker processes run; 0: the probes run on a thread instead."""
        if self.probe_workers == "auto":
            return auto_probe_workers(usable_cpus())
        return self.probe_workers

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

    @property
    def all_channels(self) -> dict[str, ChannelConfig]:
        """The configured channels, and the old ``oncall.webhook`` as the channel "webhook"."""
        found = dict(self.channels)
        if self.oncall is not None and self.oncall.webhook and "webhook" not in found:
            found["webhook"] = WebhookChannel(
                type="webhook", url=self.oncall.webhook, unsigned=True
            )
        return found

    def channels_for(self, platform: str) -> dict[str, int]:
        """The channels told of this platform's incidents, each with its least severe
        severity; the platform's own ``oncall:`` replaces the global routing."""
        if self.oncall is None:
            return {}
        own = self.platforms[platform].oncall
        names = list(self.oncall.channels)
        if self.oncall.webhook and "webhook" not in names:
            names.append("webhook")
        if own is not None and own.channels is not None:
            names = own.channels
        default = self.oncall.min_severity
        if own is not None and own.min_severity is not None:
            default = own.min_severity
        channels = self.all_channels
        return {n: channels[n].min_severity or default for n in names if n in channels}

    def channel_problems(self) -> list[tuple[str, str]]:
        found = []
        routed = [("oncall.channels", self.oncall.channels if self.oncall else [])]
        for pid, platform in self.platforms.items():
            if platform.oncall is not None and platform.oncall.channels is not None:
                routed.append((f"platforms.{pid}.oncall.channels", platform.oncall.channels))
            if platform.oncall is not None and self.oncall is None:
                found.append((f"platforms.{pid}.oncall", "needs a top-level oncall: section"))
        for path, names in routed:
            for name in names:
                if name not in self.all_channels:
                    have = ", ".join(self.all_channels) or "none"
                    found.append((path, f"no channel {name!r} under channels: (have: {have})"))
        return found

    def rule_problems(self) -> list[tuple[str, str]]:
        """Cross-field rule problems, each with the config path where the service's rules live."""
        found = []
        for pid, platform in self.platforms.items():
            for sid in platform.services:
                for key, message in self.rules_for(pid, sid).problems():
                    found.append((f"platforms.{pid}.services.{sid}.rules.{key}", message))
        return found
