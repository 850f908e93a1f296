"""The certificate and round-trip series: values, one info series per service, labels."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from outagewatch.metrics import Metrics
from outagewatch.probes import ProbeResult
from outagewatch.probes.certificates import TlsFacts

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LABELS = ("eu-de-1", "imaps", "imap", "fra")
FACTS = TlsFacts(
    leaf_not_after=NOW + timedelta(days=60), chain_not_after=NOW + timedelta(days=20),
    leaf_not_before=NOW - timedelta(days=30), subject="CN=imap.example.net",
    issuer="CN=Example CA", sans=("imap.example.net",), serial="1f", fingerprint="ab" * 32,
    version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384", error=None,
)  # fmt: skip


def result(tls: TlsFacts | None, phases: dict[str, float] | None = None) -> ProbeResult:
    return ProbeResult(NOW, 1.0, True, None, phases or {"connect": 1.0}, "", tls=tls)


def samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_expiry_of_leaf_and_chain_and_one_info_series() -> None:
    metrics = Metrics()
    metrics.observe_probe(LABELS, result(FACTS), 30)
    expiry = samples(metrics, "outagewatch_tls_cert_expiry_timestamp_seconds")
    base = (("platform", "eu-de-1"), ("service", "imaps"))
    assert expiry[(("cert", "leaf"), *base, ("vantage", "fra"))] == FACTS.leaf_not_after.timestamp()
    assert expiry[(("cert", "chain"), *base, ("vantage", "fra"))] == (
        FACTS.chain_not_after.timestamp()
    )
    metrics.observe_probe(LABELS, result(dataclasses.replace(FACTS, version="TLSv1.2")), 30)
    info = samples(metrics, "outagewatch_tls_info")
    assert [dict(k)["version"] for k in info] == ["TLSv1.2"]


def test_a_probe_without_handshake_keeps_the_last_certificate() -> None:
    metrics = Metrics()
    metrics.observe_probe(LABELS, result(FACTS), 30)
    metrics.observe_probe(LABELS, result(None), 30)
    assert len(samples(metrics, "outagewatch_tls_cert_expiry_timestamp_seconds")) == 2


def test_roundtrip_delivery_histogram() -> None:
    metrics = Metrics()
    labels = ("eu-de-1", "roundtrip", "roundtrip", "fra")
    metrics.observe_probe(labels, result(None, {"submit": 0.2, "deliver": 7.0}), 30)
    counts = samples(metrics, "outagewatch_roundtrip_delivery_seconds_bucket")
    by_le = {dict(k)["le"]: v for k, v in counts.items()}
    assert by_le["5.0"] == 0 and by_le["10.0"] == 1
