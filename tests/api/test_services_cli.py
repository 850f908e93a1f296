"""``outagewatch services`` against the real API in a thread: the states are the read model's
(states/read_model.py) as ``GET /api/v1/services`` gives them, a page at a time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from outagewatch.cli import client as client_module
from outagewatch.cli.client import Client
from outagewatch.cli.main import main
from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.store.engine import open_engine
from outagewatch.store.samples import SampleRow, insert_samples

from ..incidents.world import T0
from .fuzz_server import FuzzServer, fuzz_server

EXIT_OK, EXIT_INPUT = 0, 2
# The server's clock stands at T0; its one open incident names eu-de-1/imap.
BAD = ProbeResult(T0 - timedelta(seconds=10), 5.0, False, ErrorKind.TIMEOUT, {}, "no answer")
GOOD = ProbeResult(T0 - timedelta(seconds=10), 0.2, True, None, {}, "+OK")
WINDOW = {"platform": "us", "services": ["smtp"], "kind": "emergency",
          "starts_at": T0.isoformat(), "ends_at": (T0 + timedelta(hours=1)).isoformat(),
          "expected_impact": "Sending mail may fail."}  # fmt: skip


async def _observed(db: Path, server: FuzzServer) -> None:
    """A bad sample of us/imap, a good one of us/pop3, and a running window on us/smtp."""
    engine = open_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.begin() as conn:
            await insert_samples(conn, [SampleRow("us", "imap", "fra", BAD, True),
                                        SampleRow("us", "pop3", "fra", GOOD, False)])  # fmt: skip
    finally:
        await engine.dispose()
    async with aiohttp.ClientSession() as session:
        await Client(session, URL(server.base), server.token).create_maintenance(WINDOW)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzServer]:
    tmp = tmp_path_factory.mktemp("services-cli")
    with fuzz_server(tmp) as running:
        asyncio.run(_observed(tmp / "ow.db", running))
        yield running


@pytest.fixture
def services(
    server: FuzzServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., list[str]]:
    """``outagewatch services`` with the given options: the lines it printed."""
    monkeypatch.setenv("OUTAGEWATCH_TOKEN", server.token)
    monkeypatch.setattr(client_module, "PAGE", 3)  # 8 services: three pages to follow

    def run(*options: str) -> list[str]:
        assert main(["services", "--url", server.base, *options]) == EXIT_OK
        return capsys.readouterr().out.splitlines()

    return run


def test_every_service_with_its_state_across_the_pages(services: Callable[..., list[str]]) -> None:
    header, *rows = services()
    assert header.split() == [
        "PLATFORM", "SERVICE", "PROTOCOL", "STATE", "SEV", "BAD", "SINCE", "VANTAGES",
    ]  # fmt: skip
    found = {tuple(row.split()[:2]): row.split()[3] for row in rows}
    assert list(found) == [
        (platform, service)
        for platform in ("eu-de-1", "us")
        for service in ("imap", "pop3", "smtp", "webmail")
    ]
    assert found == {
        **{key: "unknown" for key in found},
        ("eu-de-1", "imap"): "outage",
        ("us", "imap"): "bad",
        ("us", "pop3"): "ok",
        ("us", "smtp"): "maintenance",
    }
    imap = next(row for row in rows if row.startswith("us ") and " imap " in row)
    assert imap.split()[5:] == ["2026-11-23", "09:59Z", "fra", "bad"]


def test_the_platform_and_state_filters(services: Callable[..., list[str]]) -> None:
    _, *outages = services("--state", "outage")
    assert [row.split()[:4] for row in outages] == [["eu-de-1", "imap", "imap", "outage"]]
    _, *windows = services("--platform", "us", "--state", "maintenance")
    assert [row.split()[:2] for row in windows] == [["us", "smtp"]]
    _, *us = services("--platform", "us")
    assert {row.split()[0] for row in us} == {"us"} and len(us) == 4
    assert services("--platform", "mars") == ["no services on mars"]
    assert services("--platform", "us", "--state", "outage") == ["no outage services on us"]


def test_an_unknown_state_is_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["services", "--state", "down", "--url", "http://127.0.0.1:9"]) == EXIT_INPUT
    assert capsys.readouterr().err == (
        "--state: 'down' is not one of ok, bad, degraded, outage, maintenance, unknown\n"
    )
