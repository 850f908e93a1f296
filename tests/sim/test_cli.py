"""``python -m outagewatch.sim``: starts, prints where it listens, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from outagewatch.sim.cli import main
from tests.sim.simhelpers import PASSWORD, USER

LISTENING = re.compile(rb"^(\w+) listening on (?:http://)?(\S+?)(?:/faults)?\s")
STARTUP_TIMEOUT = 15


class Running:
    """A simulator process and what it printed until "ready"."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.printed: list[bytes] = []
        self.ports: dict[str, int] = {}

    async def wait_ready(self) -> None:
        assert self.process.stdout is not None
        while True:
            line = await self.process.stdout.readline()
            assert line, f"exited before ready: {b''.join(self.printed)!r}"
            self.printed.append(line)
            if line.startswith(b"ready"):
                return
            if match := LISTENING.match(line):
                self.ports[match[1].decode()] = int(match[2].rsplit(b":", 1)[1])


@contextlib.asynccontextmanager
async def simulator(*args: str) -> AsyncIterator[Running]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "outagewatch.sim",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    running = Running(process)
    try:
        await asyncio.wait_for(running.wait_ready(), STARTUP_TIMEOUT)
        yield running
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()


async def _greeting(port: int, tls: ssl.SSLContext | None = None) -> bytes:
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None
    )
    try:
        return await asyncio.wait_for(reader.readline(), 2)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_starts_serves_and_stops_on_sigterm() -> None:
    ports = ("--http", "0", "--smtp", "0", "--imap", "0", "--pop3", "0", "--control", "0")
    async with simulator(*ports, "--user", f"{USER}:{PASSWORD}") as running:
        assert set(running.ports) == {"http", "smtp", "imap", "pop3", "control"}
        assert (await _greeting(running.ports["pop3"])).startswith(b"+OK")
        control = f"http://127.0.0.1:{running.ports['control']}/faults"
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{control}/imap", json={"greeting_delay": 1.5}) as response:
                assert (await response.json())["faults"]["greeting_delay"] == 1.5
            async with http.get(control) as response:
                assert (await response.json())["imap"]["faults"]["greeting_delay"] == 1.5

        running.process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(running.process.communicate(), 10)
        assert running.process.returncode == 0, err
    assert out.endswith(b"stopped\n")
    printed = b"".join(running.printed) + out + err
    assert USER.encode() in printed
    assert PASSWORD.encode() not in printed


async def test_generates_a_certificate_and_serves_implicit_tls(tmp_path: Path) -> None:
    cert_dir = tmp_path / "tls"
    async with simulator(
        "--pop3", "0", "--tls", "implicit", "--cert-dir", str(cert_dir)
    ) as running:
        tls = ssl.create_default_context(cafile=cert_dir / "ca.pem")
        assert (await _greeting(running.ports["pop3"], tls)).startswith(b"+OK")
        running.process.send_signal(signal.SIGINT)
        await asyncio.wait_for(running.process.communicate(), 10)
        assert running.process.returncode == 0
    assert (cert_dir / "key.pem").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        ([], "choose at least one"),
        (["--pop3", "0", "--tls", "implicit"], "--cert-dir"),
        (["--pop3", "0", "--user", "nopassword"], "NAME:PASSWORD"),
        (["--pop3", "0", "--host", "0.0.0.0"], "loopback"),  # noqa: S104 - refused
        (["--pop3", "0", "--greeting-delay", "soon"], "duration"),
    ],
)
def test_bad_input_exits_2_with_a_reason(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert reason in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["endless_line", "endless_lines", "drip"])
def test_hostile_modes_are_chosen_on_the_command_line(mode: str) -> None:
    from outagewatch.sim.cli import _build_servers, build_parser

    args = build_parser().parse_args(["--smtp", "0", "--hostile", mode, "--drip-interval", "50ms"])
    faults = _build_servers(args)["smtp"].faults
    assert (faults.hostile, faults.drip_interval) == (mode, 0.05)
