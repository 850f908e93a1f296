"""/metrics at a given number of services: the series budget of DESIGN section 10 (at most 14
per service and vantage by default, 3 more for a TLS service), the histogram's buckets, the
opt-in phases, all of them rendered as probes come in rather than at a scrape, and the body
served gzip-compressed to a scraper that asks for it. Nothing here is timed: the speed of a
scrape is make bench's to measure."""

from __future__ import annotations

import dataclasses
import gzip
from collections import Counter
from datetime import UTC, datetime

import aiohttp
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from outagewatch.daemon.http import make_app
from outagewatch.metrics import Metrics
from outagewatch.metrics.details import DELIVERY_BUCKETS
from outagewatch.metrics.exposition import DURATION_BUCKETS, SERIES_BUDGET
from outagewatch.probes.result import ErrorKind, ProbeResult
from tests.test_metrics_probes import FACTS

SERVICES = 400
PROTOCOLS = ("http", "smtp", "imap", "pop3")
PHASES = {"dns": 0.001, "connect": 0.01, "banner": 0.02, "auth": 0.05, "command": 0.01}
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def result(duration: float, ok: bool = True) -> ProbeResult:
    kind = None if ok else ErrorKind.TIMEOUT
    return ProbeResult(T0, duration, ok, kind, PHASES, "")


def estate(metrics: Metrics, *, bad: int = 0) -> list[tuple[str, str, str, str]]:
    """SERVICES services probed a few times and judged; the first ``bad`` time out."""
    labels = [(f"p{i % 3}", f"svc-{i:04d}", PROTOCOLS[i % 4], "fra") for i in range(SERVICES)]
    for n, service in enumerate(labels):
        for duration in (0.2, 0.7, 3.0):
            metrics.observe_probe(service, result(duration), slow_after=30.0)
        if n < bad:
            metrics.observe_probe(service, result(60.0, ok=False), slow_after=30.0)
        metrics.export_judgement(service, 900.0 if n < bad else 0.0, n < bad, False)
    return labels


def series_per_service(text: str) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if "service" in labels:
                counts[labels["platform"], labels["service"], labels["vantage"]] += 1
    return counts


def test_a_healthy_estate_stays_within_the_budget() -> None:
    metrics = Metrics()
    labels = estate(metrics)
    counts = series_per_service(metrics.render().decode())
    assert len(counts) == SERVICES  # every service is there …
    assert set(counts.values()) == {SERIES_BUDGET}  # … with its 14 series and no more
    assert {(p, s, v) for p, s, _, v in labels} == set(counts)


def test_a_service_in_outage_adds_only_its_flag_and_its_error_result() -> None:
    metrics = Metrics()
    estate(metrics, bad=10)
    counts = series_per_service(metrics.render().decode())
    assert sorted(Counter(counts.values()).items()) == [
        (SERIES_BUDGET, SERVICES - 10),
        (SERIES_BUDGET + 1, 10),  # probes_total{result="timeout"}
    ]
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    outage = families["outagewatch_service_outage"].samples
    assert len(outage) == SERVICES  # every service, at 0 unless it is in outage
    assert sorted(s.value for s in outage) == [0.0] * (SERVICES - 10) + [1.0] * 10
    maintenance = families["outagewatch_service_in_maintenance"].samples
    assert len(maintenance) == SERVICES and {s.value for s in maintenance} == {0.0}


def test_the_histogram_buckets_are_those_around_the_rule() -> None:
    metrics = Metrics()
    [service, *_] = estate(metrics)
    families = {f.name: f for f in text_string_to_metric_families(metrics.render().decode())}
    histogram = families["outagewatch_probe_duration_seconds"]
    mine = [s for s in histogram.samples if s.labels.get("service") == service[1]]
    buckets = {s.labels["le"]: s.value for s in mine if s.name.endswith("_bucket")}
    assert buckets == {
        **{str(float(b)): v for b, v in zip(DURATION_BUCKETS, (1, 2, 3, 3, 3, 3), strict=True)},
        "+Inf": 3,
    }
    assert {s.name: s.value for s in mine if not s.name.endswith("_bucket")} == {
        "outagewatch_probe_duration_seconds_count": 3,
        "outagewatch_probe_duration_seconds_sum": 3.9,
    }


def test_phases_only_when_asked_for() -> None:
    assert "outagewatch_probe_phase_seconds" not in metrics_text(Metrics())
    with_phases = Metrics(phases=True)
    estate(with_phases)
    counts = series_per_service(with_phases.render().decode())
    assert set(counts.values()) == {SERIES_BUDGET + len(PHASES)}


def metrics_text(metrics: Metrics) -> str:
    estate(metrics)
    return metrics.render().decode()


async def test_a_scraper_asking_for_gzip_gets_it() -> None:
    metrics = Metrics()
    estate(metrics)
    runner = web.AppRunner(make_app(metrics, ready=lambda: True))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        async with aiohttp.ClientSession(auto_decompress=False) as session:
            async with session.get(url, headers={"Accept-Encoding": "gzip"}) as response:
                assert response.headers["Content-Encoding"] == "gzip"
                zipped = await response.read()
            async with session.get(url, headers={"Accept-Encoding": "identity"}) as response:
                assert "Content-Encoding" not in response.headers
                plain = await response.read()
    finally:
        await runner.cleanup()
    assert gzip.decompress(zipped) == plain
    assert len(zipped) * 5 < len(plain)
    assert series_per_service(plain.decode()).total() == SERVICES * SERIES_BUDGET


def tls_estate(metrics: Metrics, services: int) -> list[tuple[str, str, str, str]]:
    """``services`` https services probed with a handshake, and as many round trips."""
    https = [(f"p{i % 3}", f"web-{i:04d}", "http", "fra") for i in range(services)]
    trips = [(f"p{i % 3}", f"trip-{i:04d}", "roundtrip", "fra") for i in range(services)]
    for service in https:
        metrics.observe_probe(service, dataclasses.replace(result(0.2), tls=FACTS), 30.0)
        metrics.export_judgement(service, 0.0, False, False)
    for service in trips:
        trip = ProbeResult(T0, 8.0, True, None, {"submit": 0.5, "deliver": 7.0}, "")
        metrics.observe_probe(service, trip, 30.0)
        metrics.export_judgement(service, 0.0, False, False)
    return https + trips


def test_a_tls_service_adds_its_leaf_chain_and_info_series() -> None:
    metrics = Metrics()
    https = tls_estate(metrics, SERVICES // 2)[: SERVICES // 2]
    counts = series_per_service(metrics.render().decode())
    assert {counts[p, s, v] for p, s, _, v in https} == {SERIES_BUDGET + 3}
    delivery = len(DELIVERY_BUCKETS) + 3  # and +Inf, _sum, _count
    assert set(counts.values()) == {SERIES_BUDGET + 3, SERIES_BUDGET + delivery}


def test_no_series_of_a_service_is_rendered_by_prometheus_client_at_a_scrape() -> None:
    metrics = Metrics()
    tls_estate(metrics, SERVICES)
    walked = generate_latest(metrics.registry).decode()
    assert "service=" not in walked  # all of them in the text rendered as probes came in
    rendered = series_per_service("".join(metrics.parts()))
    assert rendered.total() == series_per_service(metrics.render().decode()).total()
    assert rendered.total() == SERVICES * (2 * SERIES_BUDGET + 3 + len(DELIVERY_BUCKETS) + 3)
