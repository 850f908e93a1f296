"""Prometheus collectors of DESIGN section 6, on a registry of their own (no globals).

The series of each service (duration, success, results, judgements) are metrics/exposition.py's, its
certificate and delivery series metrics/details.py's, kept rendered; the registry holds the
few series that do not grow with the services."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform as host_platform
import zlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from outagewatch import __version__
from outagewatch.metrics.details import DetailSeries
from outagewatch.metrics.exposition import Labels, ServiceSeries
from outagewatch.probes.result import ProbeResult

NOTIFICATION_KINDS = (
    "detected", "update", "restored", "oncall", "oncall_repeat",
    *(f"maintenance_{k}" for k in ("announced", "started", "finished", "extended", "cancelled",
                                   "auto_finished")),
    "certificate_warn", "certificate_critical", "certificate_replaced",
    "degraded", "degraded_ended",
)  # fmt: skip
CHANNEL_KINDS = ("opened", "acknowledged", "update", "restored")  # notify/channels/

JOIN_SLICE = 1000  # strings per slice: about 0.3 MB of text, well under a millisecond
GZIP_WINDOW = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream
# Nice value of the thread that compresses /metrics (Linux: per thread). A scrape at 10,000
# services is about 90 ms of zlib; on one core the kernel would share it evenly with the
# probe thread, whose wake-ups then waited for it (the probes' timing error).
COMPRESSOR_NICE = 10


def _lower_priority() -> None:
    # Not Linux, or not allowed: the scrape merely does not yield to the probes.
    with contextlib.suppress(AttributeError, OSError):
        lower = os.getpriority(os.PRIO_PROCESS, 0) + COMPRESSOR_NICE
        os.setpriority(os.PRIO_PROCESS, 0, min(19, lower))  # this thread only, on Linux


_COMPRESSING = ThreadPoolExecutor(1, "outagewatch-metrics", initializer=_lower_priority)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None, *, phases: bool = False) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # The series of every service live outside the registry, rendered as they change.
        self.services = ServiceSeries(phases=phases)
        self.details = DetailSeries()
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
            "How late an event loop ran a timer at the last check: loop=probes is the"
            " probes' stopwatch, loop=main runs detection, the outbox and the API",
            ("loop",),
            registry=r,
        )
        # One series per probe worker process (daemon/probe_workers.py), none per service.
        self.probe_worker_restarts = Counter(
            "outagewatch_probe_worker_restarts",
            "Probe worker processes restarted after they died, by worker number",
            ("worker",),
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

    def forget_judgements(self) -> None:
        """A standby judges nothing: drop the leader's series rather than leave stale ones
        (a stale outage of 1 would keep an alert firing after the service recovered)."""
        self.services.forget_judgements()
        for gauge in (self.incidents_open, self.vantage_up):
            gauge.clear()

    def forget_service(self, labels: Labels) -> None:
        """A service the config no longer has: its series end rather than go stale."""
        self.services.forget(labels)
        platform, service, _, vantage = labels
        self.details.forget((platform, service, vantage))

    def observe_probe(self, labels: Labels, result: ProbeResult, slow_after: float) -> None:
        self.services.observe(labels, result, slow_after)
        platform, service, _, vantage = labels
        self.details.observe((platform, service, vantage), result)

    def export_judgement(
        self,
        labels: Labels,
        bad_for: float,
        outage: bool,
        in_maintenance: bool,
        degraded: bool = False,
    ) -> None:
        self.services.judge(labels, bad_for, outage, in_maintenance, degraded)

    async def exposition(self, *, compressed: bool) -> bytes:
        """The /metrics body, gzip-compressed when ``compressed``, built in slices on the loop
        with the compression of each slice in a thread (zlib lets go of the GIL while it
        works). A single join in a thread held the GIL for milliseconds at a time, and the
        loop queued behind it at every switch: probes overlapping a scrape at 10,000
        services measured up to 160 ms more (docs/BENCHMARKS.md)."""
        loop = asyncio.get_running_loop()
        parts = self.parts()
        compressor = zlib.compressobj(1, zlib.DEFLATED, GZIP_WINDOW) if compressed else None
        body: list[bytes] = []
        for start in range(0, len(parts), JOIN_SLICE):
            chunk = "".join(parts[start : start + JOIN_SLICE]).encode()
            if compressor is None:
                body.append(chunk)
                await asyncio.sleep(0)  # let the loop run between slices
            else:
                body.append(await loop.run_in_executor(_COMPRESSING, compressor.compress, chunk))
        tail = generate_latest(self.registry)
        if compressor is None:  # 14 MB at 10,000 services: one copy, off the loop
            return await loop.run_in_executor(_COMPRESSING, b"".join, [*body, tail])
        return b"".join([*body, compressor.compress(tail), compressor.flush()])

    def render(self) -> bytes:
        """The uncompressed body, all at once (tests and tools off the loop)."""
        return "".join(self.parts()).encode() + generate_latest(self.registry)

    def parts(self) -> list[str]:
        """The rendered per-service text: taken on the loop, one reference per string."""
        return [*self.services.parts(), *self.details.parts()]

    def count_channels(self, channels: Iterable[str]) -> None:
        """The channels' series at zero from the start, as the mail's."""
        for channel in channels:
            for kind in CHANNEL_KINDS:
                for result in ("sent", "retry", "failed"):
                    self.notifications.labels(channel, kind, result)
