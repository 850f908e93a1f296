"""The SLO section through `outagewatch report`, from samples in a real SQLite file: rolled up
hourly with their bucket counts, an announced maintenance window left out."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from outagewatch.cli.main import main
from outagewatch.maintenance import store as maintenances
from outagewatch.maintenance.decisions import Maintenance
from outagewatch.probes.result import ProbeResult
from outagewatch.store import samples as sample_store
from outagewatch.store.engine import open_engine
from outagewatch.store.samples import SampleRow

HOURS = [datetime(2026, 10, 10, h, tzinfo=UTC) for h in (8, 9, 10)]


def samples_of(hour: datetime, *, bad: int, slow: int) -> list[SampleRow]:
    """60 samples a minute apart: the first ``bad`` failed, the next ``slow`` took 2 s."""
    rows = []
    for minute in range(60):
        failed, late = minute < bad, bad <= minute < bad + slow
        result = ProbeResult(
            hour + timedelta(minutes=minute), 2.0 if late else 0.3, not failed,
            "refused" if failed else None, {}, "x",
        )  # fmt: skip
        rows.append(SampleRow("p", "web", "local", result, bad=failed))
    return rows


async def history(db: Path) -> None:
    engine = open_engine(f"sqlite+aiosqlite:///{db}")
    window = Maintenance(
        ref="MW-20261001-0001", platform="p", services=("web",), kind="planned",
        state="finished", starts_at=HOURS[1] + timedelta(minutes=10),
        ends_at=HOURS[1] + timedelta(hours=2), expected_impact="none",
        announced_at=datetime(2026, 10, 1, tzinfo=UTC), announced_by="ops",
        finished_at=HOURS[1] + timedelta(minutes=50), finished_by="ops",
    )  # fmt: skip
    try:
        async with engine.begin() as conn:
            await sample_store.insert_samples(conn, samples_of(HOURS[0], bad=3, slow=6))
            await sample_store.insert_samples(conn, samples_of(HOURS[1], bad=60, slow=0))
            await sample_store.insert_samples(conn, samples_of(HOURS[2], bad=0, slow=0))
            for hour in HOURS:
                await sample_store.roll_up_hour(conn, hour)
            await maintenances.insert_window(conn, window)
    finally:
        await engine.dispose()


def test_report_command_slo_section(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "ow.yaml"
    config.write_text(yaml.safe_dump({
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "slo": {"availability": 99, "latency": {"under": "1s", "objective": 90}},
        "platforms": {"p": {"name": "P", "lists": {"incident": ["a@example.net"],
                                                    "informational": ["b@example.net"]},
                            "services": {"web": {"protocol": "http",
                                                 "url": "http://127.0.0.1:9/"}}}},
    }))  # fmt: skip
    assert main(["db", "upgrade", "-c", str(config)]) == 0
    asyncio.run(history(tmp_path / "ow.db"))
    capsys.readouterr()

    assert main(["report", "-c", str(config), "--month", "2026-10", "--format", "json"]) == 0
    (web,) = json.loads(capsys.readouterr().out)["slos"]
    # The maintenance hour (09:00, its window 09:10-09:50) is left out, bad samples and all.
    assert (web["slo_samples"], web["slo_maintenance_samples"]) == (120, 60)
    assert (web["slo_bad_samples"], web["slo_slow_samples"]) == (3, 6)
    assert web["slo_availability_percent"] == pytest.approx(100 * 117 / 120, abs=1e-4)
    assert web["slo_availability_budget_samples"] == 1.2
    assert web["slo_availability_budget_spent_percent"] == 250  # 3 bad of 1.2 allowed
    assert web["slo_latency_percent"] == 95
    assert web["slo_latency_budget_samples"] == 12
    assert web["slo_latency_budget_left_percent"] == 50

    assert main(["report", "-c", str(config), "--month", "2026-10", "--format", "text"]) == 0
    text = capsys.readouterr().out
    assert "3 bad of 120 (allowed 1.2); budget 250 % spent, -150 % left  MISSED" in text
    assert "6 slow of 120 (allowed 12); budget 50 % spent, 50 % left\n" in text
    assert "60 samples in maintenance hours" in text

    assert main(["report", "-c", str(config), "--month", "2026-10", "--format", "csv"]) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert (row["samples"], row["slo_samples"], row["slo_latency_percent"]) == (
        "180",
        "120",
        "95.0",
    )
