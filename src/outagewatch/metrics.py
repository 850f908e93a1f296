"""Prometheus collectors of DESIGN section 6, on a registry of their own (no globals)."""

from __future__ import annotations

import contextlib
import platform as host_platform
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from outagewatch import __version__
from outagewatch.metrics_probes import ProbeDetailMetrics
from outagewatch.probes.result import ProbeResult

SERVICE_LABELS = ("platform", "service", "protocol", "vantage")
# Up to the 60 s probe timeout, with the 30 s outage line as a bucket edge for Grafana.
NOTIFICATION_KINDS = (
    "detected", "update", "restored", "oncall", "oncall_repeat",
    *(f"maintenance_{k}" for k in ("announced", "started", "finished", "extended", "cancelled",
                                   "auto_finished")),
    "certificate_warn", "certificate_critical", "certificate_replaced",
)  # fmt: skip
CHANNEL_KINDS = ("opened", "acknowledged", "update", "restored")  # notify/channels/
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 15, 20, 30, 45, 60)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.probe_duration = Histogram(
            "outagewatch_probe_duration_seconds",
            "Duration of whole probe transactions",
            SERVICE_LABELS,
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.probe_phase = Gauge(
            "outagewatch_probe_phase_seconds",
            "Duration of each phase of the last probe",
            (*SERVICE_LABELS, "phase"),
            registry=r,
        )
        self.probe_success = Gauge(
            "outagewatch_probe_success",
            "1 when the last probe was good (succeeded within slow_after), else 0",
            SERVICE_LABELS,
            registry=r,
        )
        self.probes = Counter(
            "outagewatch_probes",
            "Probes by result: ok, slow, or the error kind",
            (*SERVICE_LABELS, "result"),
            registry=r,
        )
        self.bad_since = Gauge(
            "outagewatch_service_bad_since_seconds",
            "How long the current bad run has lasted (0 when good): the early warning",
            SERVICE_LABELS,
            registry=r,
        )
        self.outage = Gauge(
            "outagewatch_service_outage",
            "1 while the service is in outage",
            SERVICE_LABELS,
            registry=r,
        )
        self.in_maintenance = Gauge(
            "outagewatch_service_in_maintenance",
            "1 while a maintenance window of the service is in progress",
            SERVICE_LABELS,
            registry=r,
        )
        self.incidents_open = Gauge(
            "outagewatch_incidents_open",
            "Incidents open or acknowledged (not yet restored), by platform and severity",
            ("platform", "severity"),
            registry=r,
        )
        self.leader = Gauge(
            "outagewatch_leader",
            "1 while this instance leads (judges, runs incidents and sends mail)",
            registry=r,
        )
        self.vantage_up = Gauge(
            "outagewatch_vantage_up",
            "1 while the vantage reports samples (seen by the leader); 0 leaves it out of quorums",
            ("vantage",),
            registry=r,
        )
        self.loop_lag = Gauge(
            "outagewatch_event_loop_lag_seconds",
            "How late the event loop ran a timer at the last check",
            registry=r,
        )
        self.notifications = Counter(
            "outagewatch_notifications",
            "Delivery attempts of outbox rows by channel (mail, or a channel's name), kind and"
            " result: sent, partial, retry, failed",
            ("channel", "kind", "result"),
            registry=r,
        )
        # Every series at zero from the start: rate() cannot see a counter's first increment,
        # so an alert on the first failed mail needs the series to exist before it.
        for kind in NOTIFICATION_KINDS:
            for result in ("sent", "partial", "retry", "failed"):
                self.notifications.labels("mail", kind, result)
        self.relay_up = Gauge(
            "outagewatch_relay_up",
            "0 while the SMTP relay fails (attempts and health checks), 1 once it answers",
            ("relay",),
            registry=r,
        )
        self.outbox_pending = Gauge(
            "outagewatch_outbox_pending",
            "Notifications not yet delivered (pending or being sent)",
            registry=r,
        )
        self.outbox_oldest_pending = Gauge(
            "outagewatch_outbox_oldest_pending_seconds",
            "Age of the oldest notification not yet delivered (0 when none)",
            registry=r,
        )
        # The names Prometheus and Alertmanager use for the same facts (DESIGN section 10).
        self.config_reload_ok = Gauge(
            "outagewatch_config_last_reload_successful",
            "1 when the last config reload (SIGHUP, POST /-/reload) was applied, 0 when refused",
            registry=r,
        )
        self.config_reload_at = Gauge(
            "outagewatch_config_last_reload_success_timestamp_seconds",
            "When the config was last loaded successfully (at the start or by a reload)",
            registry=r,
        )
        build = Gauge(
            "outagewatch_build_info", "Build information", ("version", "python"), registry=r
        )
        build.labels(__version__, host_platform.python_version()).set(1)
        self.probe_details = ProbeDetailMetrics(r)

    def forget_judgements(self) -> None:
        """A standby judges nothing: drop the leader's series rather than leave stale ones
        (a stale outage of 1 would keep an alert firing after the service recovered)."""
        for gauge in (self.bad_since, self.outage, self.in_maintenance, self.incidents_open,
                      self.vantage_up):  # fmt: skip
            gauge.clear()

    def forget_service(self, labels: tuple[str, str, str, str]) -> None:
        """A service the config no longer has: its series end rather than go stale."""
        for metric in (self.probe_duration, self.probe_success, self.bad_since, self.outage,
                       self.in_maintenance):  # fmt: skip
            with contextlib.suppress(KeyError):
                metric.remove(*labels)
        # The phase and result of these are a fifth label: find the children to remove in
        # the collector's table (prometheus_client has no public way to list them).
        for collector in (self.probe_phase, self.probes):
            for sample_labels in [key for key in collector._metrics if key[:4] == labels]:
                collector.remove(*sample_labels)

    def observe_probe(
        self, labels: tuple[str, str, str, str], result: ProbeResult, slow_after: float
    ) -> None:
        self.probe_duration.labels(*labels).observe(result.duration)
        for phase, seconds in result.phases.items():
            self.probe_phase.labels(*labels, phase).set(seconds)
        self.probe_success.labels(*labels).set(0 if result.is_bad(slow_after) else 1)
        verdict = (
            "slow" if result.ok and result.is_bad(slow_after) else str(result.error_kind or "ok")
        )
        self.probes.labels(*labels, verdict).inc()
        platform, service, _, vantage = labels
        self.probe_details.observe((platform, service, vantage), result)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def count_channels(self, channels: Iterable[str]) -> None:
        """The channels' series at zero from the start, as the mail's."""
        for channel in channels:
            for kind in CHANNEL_KINDS:
                for result in ("sent", "retry", "failed"):
                    self.notifications.labels(channel, kind, result)
