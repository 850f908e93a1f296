"""``templates_dir``: the operator's templates replace the shipped ones file by file;
check-config renders them all and names the file and line of any that fails; the daemon's
mail changes with an override (a subprocess against a sim server and a mail sink)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import yaml

from outagewatch.cli.main import main
from outagewatch.daemon.template_check import template_problems
from outagewatch.notify.templates import shipped_names
from outagewatch.sim import HttpServer, SmtpServer
from tests.config.test_config import EXAMPLE
from tests.daemon.test_daemon_e2e import Daemon, free_port

DETECTED = """\
Hello,

{{ platform.name }} has a problem ({{ affected }}), and we are on it.
{% include "_facts.txt.j2" %}
-- {{ signature }}, reviewed wording
"""


def config_with(templates: Path, tmp_path: Path) -> Path:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["templates_dir"] = str(templates)
    path = tmp_path / "ow.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    found = tmp_path / "templates"
    found.mkdir()
    return found


def test_the_shipped_templates_all_render() -> None:
    assert template_problems(None) == []
    assert {"detected.txt.j2", "update.txt.j2", "restored.txt.j2"} <= set(shipped_names())


def test_check_config_accepts_overrides_and_says_which(
    templates: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (templates / "detected.txt.j2").write_text(DETECTED)
    assert main(["check-config", "-c", str(config_with(templates, tmp_path))]) == 0
    out = capsys.readouterr().out
    assert f"mail templates: detected.txt.j2 from {templates}" in out


def test_check_config_refuses_a_syntax_error_naming_file_and_line(
    templates: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (templates / "restored.txt.j2").write_text("Dear customer,\n\n{% if incident.ref %}\nno end\n")
    assert main(["check-config", "-c", str(config_with(templates, tmp_path))]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"templates_dir: {templates / 'restored.txt.j2'}:")
    assert "Unexpected end of template" in line


def test_check_config_refuses_a_template_that_fails_to_render_naming_file_and_line(
    templates: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (templates / "update.txt.j2").write_text("Update {{ incident.ref }}\n{{ incident.eta }}\n")
    assert main(["check-config", "-c", str(config_with(templates, tmp_path))]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"templates_dir: {templates / 'update.txt.j2'}:2: 'outagewatch.incidents.model."
        "Incident object' has no attribute 'eta'"
    )


def test_a_misspelt_template_name_is_refused_not_ignored(templates: Path) -> None:
    (templates / "detcted.txt.j2").write_text(DETECTED)
    (templates / "_footer.txt.j2").write_text("a partial is fine\n")
    (problem,) = template_problems(templates)
    assert problem.startswith(f"templates_dir: {templates / 'detcted.txt.j2'}: not a template")


def test_a_missing_directory_is_refused(tmp_path: Path) -> None:
    assert template_problems(tmp_path / "nowhere") == [
        f"templates_dir: {tmp_path / 'nowhere'} is not a directory"
    ]


@pytest.mark.timeout(120)
async def test_the_daemon_mails_with_the_override(templates: Path, tmp_path: Path) -> None:
    (templates / "detected.txt.j2").write_text(DETECTED)
    async with HttpServer() as web, SmtpServer() as sink:
        data = {
            "vantage": "fra",
            "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
            "api": {"listen": f"127.0.0.1:{free_port()}"},
            "smtp": {"host": "127.0.0.1", "port": sink.port, "tls": "none",
                     "from": "noc@example.net"},
            "oncall": {"email": "oncall@example.net"},
            "templates_dir": str(templates),
            "rules": {"slow_after": "500ms", "outage_after": "1s", "probe_interval": "250ms",
                      "probe_timeout": "2s", "max_gap": "10s"},
            "platforms": {"eu-de-1": {
                "name": "OX Cloud EU de-1",
                "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                "services": {"webmail": {"protocol": "http", "url": web.url}},
            }},
        }  # fmt: skip
        path = tmp_path / "ow.yaml"
        path.write_text(yaml.safe_dump(data))
        daemon = Daemon(path)
        await daemon.start()
        try:
            web.faults.greeting_delay = 1.0  # slower than slow_after
            async with asyncio.timeout(60):  # a loaded machine: start-up and migrations
                while len(sink.messages) < 2:  # noqa: ASYNC110 - filled by the sink
                    await asyncio.sleep(0.05)
        finally:
            await daemon.stop(signal.SIGTERM)
    bodies = {
        # As a mail client stores it: line ends are CRLF on the wire only.
        received.rcpt_tos: message_from_bytes(
            received.data.replace(b"\r\n", b"\n"), policy=policy.default
        )
        .get_body(preferencelist=("plain",))
        .get_content()
        for received in sink.messages
    }
    customer = bodies[("i@example.net",)]
    assert customer.startswith("Hello,\n\nOX Cloud EU de-1 has a problem (Web-Mail)")
    assert "reviewed wording" in customer
    assert "Incident:     OW-" in customer  # the shipped _facts.txt.j2, included as fallback
    # The on-call mail has no override: the shipped wording.
    assert bodies[("oncall@example.net",)].startswith("New incident OW-")


def test_the_daemon_refuses_to_start_with_a_broken_template(
    templates: Path, tmp_path: Path
) -> None:
    (templates / "detected.txt.j2").write_text("{{ incident.ref }\n")
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data |= {"templates_dir": str(templates), "smtp": None, "database": "sqlite+aiosqlite://"}
    path = tmp_path / "ow.yaml"
    path.write_text(yaml.safe_dump(data))
    done = subprocess.run(  # noqa: S603 - the daemon as operators start it
        [sys.executable, "-m", "outagewatch", "run", "-c", str(path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert f"templates_dir: {templates / 'detected.txt.j2'}:1: unexpected '}}'" in done.stderr
