"""The report read back from a database where a real incident ran, mails and all."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from outagewatch.cli.main import main
from outagewatch.reporting.monthly import monthly_report
from outagewatch.sim import SmtpServer

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
