"""Accuracy on loopback, the ``probe`` command, and secrets that never leave a probe."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import ssl
import sys
from pathlib import Path

import pytest
import yaml

from outagewatch.probes import PROBES, Credentials, run_probe
from outagewatch.sim import HttpServer, ImapServer, Pop3Server, SimServer, SmtpServer

from .test_probes_vs_sim import PASSWORD, USER, service_for

SERVERS: list[type[SimServer]] = [HttpServer, SmtpServer, ImapServer, Pop3Server]


@pytest.mark.parametrize("server_type", SERVERS, ids=lambda s: s.protocol)
@pytest.mark.solo
async def test_measured_duration_within_20ms_of_injected_500ms(
    server_type: type[SimServer], ca_file: str
) -> None:
    async with server_type(users={USER: PASSWORD}) as server:
        server.faults.greeting_delay = 0.5
        service = service_for(server, ca_file, auth=False)
        result = await run_probe(PROBES[server.protocol], service, limit=5)
    assert result.ok, result.detail
    assert 0.5 <= result.duration <= 0.52, result.phases


def secret_forms(password: str) -> list[str]:
    return [
        password,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(f"\0{USER}\0{password}".encode()).decode(),
        base64.b64encode(f"{USER}\0{USER}\0{password}".encode()).decode(),
    ]


@pytest.mark.parametrize("server_type", SERVERS, ids=lambda s: s.protocol)
@pytest.mark.parametrize("tls", ["none", "implicit"])
async def test_no_password_in_any_log_record(
    server_type: type[SimServer],
    tls: str,
    server_tls: ssl.SSLContext,
    ca_file: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with server_type(
        tls=tls, ssl_context=server_tls if tls != "none" else None, users={USER: PASSWORD}
    ) as server:
        service = service_for(server, ca_file, auth=True)
        good = await run_probe(
            PROBES[server.protocol], service, limit=5, credentials=Credentials(USER, PASSWORD)
        )
        wrong = "Wr0ng-Secret-99"
        bad = await run_probe(
            PROBES[server.protocol], service, limit=5, credentials=Credentials(USER, wrong)
        )
    assert good.ok and not bad.ok
    text = caplog.text + good.detail + bad.detail + repr(good) + repr(bad)
    for secret in secret_forms(PASSWORD) + secret_forms(wrong):
        assert secret not in text


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "outagewatch", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_probe_command_prints_verdict_and_phases(tmp_path: Path, ca_file: str) -> None:
    async with ImapServer(users={USER: PASSWORD}) as imap:
        config = {
            "platforms": {
                "eu-de-1": {
                    "name": "OX Cloud EU de-1",
                    "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                    "services": {
                        "imap": {
                            "protocol": "imap", "host": "127.0.0.1", "port": imap.port,
                            "auth": {"username": USER, "password_env": "OW_TEST_IMAP_PW"},
                        },
                        "dead": {"protocol": "pop3", "host": "127.0.0.1", "port": 1},
                    },
                }
            }
        }  # fmt: skip
        path = tmp_path / "ow.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "OW_TEST_IMAP_PW": PASSWORD}

        code, out, err = await run_cli("probe", "-c", str(path), "eu-de-1/imap", env=env)
        assert code == 0, err
        assert out.startswith("eu-de-1/imap: ok in ")
        for phase in ("dns", "connect", "banner", "auth", "command", "logout"):
            assert f"  {phase} " in out
        code, out, _ = await run_cli("probe", "-c", str(path), "eu-de-1/imap", "--json", env=env)
        assert code == 0 and json.loads(out)["verdict"] == "ok"
        imap.faults.reject_login = True
        code, out, _ = await run_cli("probe", "-c", str(path), "eu-de-1/imap", "--json", env=env)
        data = json.loads(out)
        assert code == 1 and data["error_kind"] == "auth" and data["bad"] is True
        for secret in secret_forms(PASSWORD):
            assert secret not in out

    code, out, _ = await run_cli("probe", "-c", str(path), "eu-de-1/dead", env=env)
    assert code == 1 and "failed (refused)" in out
    code, _, err = await run_cli("probe", "-c", str(path), "eu-de-1/nope", env=env)
    assert code == 2 and "has no service 'nope'" in err
    code, _, err = await run_cli("probe", "-c", str(path), "eu-de-1/imap", env=dict(os.environ))
    assert code == 2 and "OW_TEST_IMAP_PW is not set" in err
