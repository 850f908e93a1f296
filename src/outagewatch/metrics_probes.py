"""Series from what a probe saw besides its verdict: the certificate of its TLS handshake and
the round trip's delivery time (DESIGN section 10, "Metrics").

Kept apart from metrics.py so the exposition there can change without touching these: three
series per TLS service (leaf, chain, info), the histogram only for round-trip services.
"""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Gauge, Histogram

from outagewatch.probes.result import ProbeResult

CERT_LABELS = ("platform", "service", "vantage")
# Delivery of a healthy platform takes seconds; the 30 s outage line is a bucket edge.
DELIVERY_BUCKETS = (1, 5, 10, 30, 60, 120)


class ProbeDetailMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.cert_expiry = Gauge(
            "outagewatch_tls_cert_expiry_timestamp_seconds",
            "Not-after of the presented certificate (cert=leaf) and the earliest of the chain "
            "(cert=chain), also when verification failed",
            (*CERT_LABELS, "cert"),
            registry=registry,
        )
        self.tls_info = Gauge(
            "outagewatch_tls_info",
            "1 for the TLS version and cipher of the last handshake",
            (*CERT_LABELS, "version", "cipher"),
            registry=registry,
        )
        self.delivery = Histogram(
            "outagewatch_roundtrip_delivery_seconds",
            "From the 250 after DATA to the probe mail seen in the mailbox",
            CERT_LABELS,
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self._info_labels: dict[tuple[str, str, str], tuple[str, str]] = {}

    def observe(self, labels: tuple[str, str, str], result: ProbeResult) -> None:
        """``labels`` are platform, service, vantage. A probe without a handshake (refused,
        say) leaves the last certificate shown: it is still the one the server has."""
        facts = result.tls
        if facts is not None:
            self.cert_expiry.labels(*labels, "leaf").set(facts.leaf_not_after.timestamp())
            self.cert_expiry.labels(*labels, "chain").set(facts.chain_not_after.timestamp())
            info = (facts.version, facts.cipher)
            previous = self._info_labels.get(labels)
            if previous is not None and previous != info:
                self.tls_info.remove(*labels, *previous)  # one info series per service
            self._info_labels[labels] = info
            self.tls_info.labels(*labels, *info).set(1)
        deliver = result.phases.get("deliver")
        if result.ok and deliver is not None:
            self.delivery.labels(*labels).observe(deliver)

    def forget(self, labels: tuple[str, str, str]) -> None:
        """A service the config no longer has: its certificate and delivery series end."""
        for cert in ("leaf", "chain"):
            with contextlib.suppress(KeyError):
                self.cert_expiry.remove(*labels, cert)
        info = self._info_labels.pop(labels, None)
        if info is not None:
            self.tls_info.remove(*labels, *info)
        with contextlib.suppress(KeyError):
            self.delivery.remove(*labels)
