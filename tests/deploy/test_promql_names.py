"""The helper that finds metric names in PromQL, on the shapes deploy/ uses."""

from __future__ import annotations

import pytest

from tests.deploy.promql import metric_names, series_names

CASES = [
    ('up{job="outagewatch"} == 0 or absent(up{job="outagewatch"})', {"up"}),
    (
        "histogram_quantile(0.95, sum by (le, protocol, vantage) "
        '(rate(outagewatch_probe_duration_seconds_bucket{platform=~"$platform"}'
        "[$__rate_interval])))",
        {"outagewatch_probe_duration_seconds_bucket"},
    ),
    (
        "outagewatch_service_bad_since_seconds > 300 unless on (job, instance, platform) "
        "(outagewatch_service_outage == 1 or outagewatch_service_in_maintenance == 1)",
        {
            "outagewatch_service_bad_since_seconds",
            "outagewatch_service_outage",
            "outagewatch_service_in_maintenance",
        },
    ),
    ("count(max by (platform) (outagewatch_service_outage) == 1) or vector(0)",
     {"outagewatch_service_outage"}),
    ("label_values(outagewatch_probe_success, platform)",
     {"outagewatch_probe_success", "platform"}),
    ("rate(outagewatch_notifications_total[5m] offset 1h)", {"outagewatch_notifications_total"}),
]  # fmt: skip


@pytest.mark.parametrize(("expr", "names"), CASES)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_series_names_from_type_lines() -> None:
    page = "\n".join(
        [
            "# HELP a_seconds x",
            "# TYPE a_seconds histogram",
            'a_seconds_bucket{le="1.0"} 0.0',
            "# TYPE b_total counter",
            "# TYPE c gauge",
            "c 1.0",
        ]
    )
    declared, sampled = series_names(page)
    assert declared == {"a_seconds_bucket", "a_seconds_sum", "a_seconds_count", "b_total", "c"}
    assert sampled == {"a_seconds_bucket", "c"}
