"""``slo:`` at three levels: merged key by key, strict, ``under`` on a histogram boundary."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from outagewatch.config import parse_config
from outagewatch.config.slo import LATENCY_BOUNDARIES, Slo
from outagewatch.metrics.exposition import DURATION_BUCKETS
from tests.config.example import problems_of


def test_defaults_without_any_slo_block(example: dict[str, Any]) -> None:
    example.pop("slo", None)
    for platform in example["platforms"].values():
        platform.pop("slo", None)
        for service in platform["services"].values():
            service.pop("slo", None)
    config = parse_config(example)
    assert config.slo_for("eu-de-1", "imap") == Slo(99.9, timedelta(seconds=5), 99.0)


def test_most_specific_level_wins_key_by_key(example: dict[str, Any]) -> None:
    example["slo"] = {"availability": 99.5, "latency": {"under": "10s", "objective": 95}}
    example["platforms"]["us"]["slo"] = {"latency": {"objective": 98}}
    example["platforms"]["us"]["services"]["imap"]["slo"] = {
        "availability": 99.95,
        "latency": {"under": "1s"},
    }
    config = parse_config(example)
    assert config.slo_for("eu-de-1", "imap") == Slo(99.5, timedelta(seconds=10), 95.0)
    assert config.slo_for("us", "smtp") == Slo(99.5, timedelta(seconds=10), 98.0)
    assert config.slo_for("us", "imap") == Slo(99.95, timedelta(seconds=1), 98.0)
    assert config.slo_for("us", "imap").le == "1.0"
    assert config.slo_for("us", "imap").availability_budget == pytest.approx(0.0005)


def test_unknown_keys_and_bad_values_name_their_path(example: dict[str, Any]) -> None:
    example["slo"] = {"availabilty": 99.9}
    example["platforms"]["us"]["slo"] = {"availability": 100}
    example["platforms"]["us"]["services"]["imap"]["slo"] = {
        "latency": {"under": "5s", "objective": 0, "quantile": 0.99}
    }
    example["platforms"]["eu-de-1"]["services"]["smtp"]["slo"] = {"latency": {"under": "fast"}}
    problems = problems_of(example)
    assert any(p.startswith("slo.availabilty: unknown key") for p in problems), problems
    assert any(p.startswith("platforms.us.slo.availability: ") for p in problems), problems
    imap = "platforms.us.services.imap.slo.latency"
    assert any(p.startswith(f"{imap}.objective: ") for p in problems), problems
    assert any(p.startswith(f"{imap}.quantile: unknown key") for p in problems), problems
    smtp = "platforms.eu-de-1.services.smtp.slo.latency.under: must be a duration"
    assert any(p.startswith(smtp) for p in problems), problems
    assert len(problems) == 5, problems


@pytest.mark.parametrize("under", ["2s", "500ms", "90s", "0s"])
def test_under_off_a_bucket_boundary_is_refused_naming_the_allowed(
    example: dict[str, Any], under: str
) -> None:
    example["platforms"]["us"]["slo"] = {"latency": {"under": under}}
    (problem,) = problems_of(example)
    assert problem.startswith("platforms.us.slo.latency.under: must be one of"), problem
    assert "(250ms, 1s, 5s, 10s, 30s, 1m)" in problem
    assert "), not " in problem


@pytest.mark.parametrize("under", ["250ms", "1s", "5s", "10s", "30s", "1m"])
def test_every_bucket_boundary_is_accepted(example: dict[str, Any], under: str) -> None:
    example["slo"] = {"latency": {"under": under}}
    assert parse_config(example).slo_for("us", "imap").latency_under.total_seconds() in (
        DURATION_BUCKETS
    )


def test_the_boundaries_are_the_exported_histograms() -> None:
    assert LATENCY_BOUNDARIES == DURATION_BUCKETS
