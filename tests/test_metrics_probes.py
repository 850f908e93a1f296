"""The certificate and round-trip series: values, one info series per service, labels, their
end when the service leaves the config."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families

from outagewatch.metrics import Metrics
from outagewatch.probes import ProbeResult
from outagewatch.probes.result import ErrorKind
from outagewatch.tls.facts import TlsFacts

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


def test_a_failed_round_trip_adds_no_delivery() -> None:
    metrics = Metrics()
    labels = ("eu-de-1", "roundtrip", "roundtrip", "fra")
    failed = ProbeResult(NOW, 60.0, False, ErrorKind.TIMEOUT, {"deliver": 59.0}, "")
    metrics.observe_probe(labels, failed, 30)
    assert not samples(metrics, "outagewatch_roundtrip_delivery_seconds_count")
    metrics.observe_probe(labels, result(None, {"submit": 0.2, "deliver": 7.0}), 30)
    metrics.observe_probe(labels, result(None, {"submit": 0.2, "deliver": 200.0}), 30)
    [count] = samples(metrics, "outagewatch_roundtrip_delivery_seconds_count").values()
    [total] = samples(metrics, "outagewatch_roundtrip_delivery_seconds_sum").values()
    assert (count, total) == (2, 207.0)


def test_a_forgotten_service_loses_every_series() -> None:
    metrics = Metrics()
    trip = ("eu-de-1", "roundtrip", "roundtrip", "fra")
    metrics.observe_probe(LABELS, result(FACTS), 30)
    metrics.observe_probe(trip, result(FACTS, {"deliver": 7.0}), 30)
    metrics.forget_service(LABELS)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    for name in ("tls_cert_expiry_timestamp_seconds", "tls_info", "roundtrip_delivery_seconds"):
        kept = {s.labels["service"] for s in families[f"outagewatch_{name}"].samples}
        assert kept == {"roundtrip"}
    metrics.forget_service(trip)
    assert 'service="roundtrip"' not in metrics.render().decode()


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    odd = ("eu", 'say "hi"\\', "https", "fra")
    metrics.observe_probe(odd, result(dataclasses.replace(FACTS, cipher='a"b')), 30)
    [key] = samples(metrics, "outagewatch_tls_info")
    assert dict(key) == {
        "platform": "eu", "service": 'say "hi"\\', "vantage": "fra",
        "version": "TLSv1.3", "cipher": 'a"b',
    }  # fmt: skip
