"""The report read back from a database where a real incident ran, mails and all."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from outagewatch.cli.main import main
from outagewatch.probes.result import ProbeResult
from outagewatch.reporting.monthly import monthly_report
from outagewatch.sim import SmtpServer
from outagewatch.store import samples as sample_store
from outagewatch.store.engine import open_engine
from outagewatch.store.samples import SampleRow

from ..incidents.world import World, at, config_for


async def test_report_of_a_month_with_one_incident(tmp_path: Path) -> None:
    async with SmtpServer() as sink:
        world = World(sink, config_for(sink.port, tmp_path / "ow.db"))
        await world.start()
        try:
            await world.outage("eu-de-1", "imap", at(-15), at(0))
            for minute in (0, 60, 120):
                await world.run(at(minute))
            await world.restored("eu-de-1", "imap", at(-15), at(130))
            await world.run(at(131))
        finally:
            await world.close()
    data = json.loads(await monthly_report(world.config, "2026-11", None, "json", at(200)))
    imap = next(s for s in data["services"] if (s["platform"], s["service"]) == ("eu-de-1", "imap"))
    assert (imap["outages"], imap["outage_minutes"]) == (1, 145)
    [incident] = data["incidents"]
    assert incident["ref"] == "OW-20261123-0001"
    assert incident["flags"] == []
    assert incident["largest_gap_minutes"] == 60
    assert incident["detected_mail_delay_minutes"] == 0
    assert incident["restored_mail_delay_minutes"] == 1
    us = json.loads(await monthly_report(world.config, "2026-11", "us", "json", at(200)))
    assert us["incidents"] == [] and {s["platform"] for s in us["services"]} == {"us"}


def test_report_command_rejects_bad_input(tmp_path: Path, capsys: object) -> None:
    config = tmp_path / "ow.yaml"
    config.write_text(yaml.safe_dump({
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "platforms": {"p": {"name": "P", "lists": {"incident": ["a@example.net"],
                                                    "informational": ["b@example.net"]},
                            "services": {"web": {"protocol": "http", "url": "http://127.0.0.1:9/"}}}},
    }))  # fmt: skip
    assert main(["report", "-c", str(config), "--month", "2026-13"]) == 2
    assert main(["report", "-c", str(config), "--month", "2026-10", "--platform", "x"]) == 2
    assert main(["db", "upgrade", "-c", str(config)]) == 0
    assert main(["report", "-c", str(config), "--month", "2026-10", "--format", "csv"]) == 0


def test_report_command_says_no_data_and_shows_partial_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the command, on a real SQLite file: an empty month is "no data" in every
    format; one measured hour is 1 h of coverage and the availability of that hour."""
    config = tmp_path / "ow.yaml"
    config.write_text(yaml.safe_dump({
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "platforms": {"p": {"name": "P", "lists": {"incident": ["a@example.net"],
                                                    "informational": ["b@example.net"]},
                            "services": {"web": {"protocol": "http", "url": "http://127.0.0.1:9/"},
                                         "imap": {"protocol": "imap", "host": "127.0.0.1",
                                                  "port": 9}}}},
    }))  # fmt: skip
    assert main(["db", "upgrade", "-c", str(config)]) == 0
    capsys.readouterr()
    for fmt in ("text", "json", "csv"):
        assert main(["report", "-c", str(config), "--month", "2026-10", "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert "no data" in out and "100.0" not in out, out

    hour = datetime(2026, 10, 10, 8, tzinfo=UTC)  # one hour of October measured, twice
    asyncio.run(insert(tmp_path / "ow.db", [hour + timedelta(minutes=m) for m in (1, 31)]))
    assert main(["report", "-c", str(config), "--month", "2026-10", "--format", "json"]) == 0
    lines = {s["service"]: s for s in json.loads(capsys.readouterr().out)["services"]}
    web, imap = lines["web"], lines["imap"]
    assert (web["measured_hours"], web["period_hours"]) == (1, 744)
    assert web["coverage_percent"] == round(100 / 744, 2)
    assert (web["availability_percent"], web["availability_basis"]) == (100, "measured time only")
    assert (imap["availability_percent"], imap["availability_basis"]) == (None, "no data")


async def insert(db: Path, times: list[datetime]) -> None:
    rows = [
        SampleRow("p", "web", "local", ProbeResult(t, 0.1, True, None, {}, "ok"), bad=False)
        for t in times
    ]
    engine = open_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.begin() as conn:
            await sample_store.insert_samples(conn, rows)
    finally:
        await engine.dispose()
