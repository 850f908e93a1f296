"""``outagewatch maintenance list|create|finish`` against the real API in a thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from outagewatch.cli.main import main

from .fuzz_server import fuzz_server


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    with fuzz_server(tmp_path_factory.mktemp("maintenance-cli")) as server:
        yield server.base, server.token


def test_create_list_finish(
    api_server: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base, token = api_server
    monkeypatch.setenv("OUTAGEWATCH_TOKEN", token)
    create = ["maintenance", "create", "--url", base, "--platform", "eu-de-1", "--service", "imap",
              "--start", "2026-11-26T10:00:00Z", "--end", "2026-11-26T12:00:00+00:00",
              "--impact", "IMAP restarts twice."]  # fmt: skip
    assert main(create) == 0
    created = capsys.readouterr().out
    assert "MW-20261123-" in created and "scheduled, planned" in created
    ref = created.split()[0]
    assert main(["maintenance", "list", "--url", base, "--platform", "eu-de-1"]) == 0
    assert ref in capsys.readouterr().out
    # Not started yet: the API refuses (409), the command says why and exits 1.
    assert main(["maintenance", "finish", ref, "--successful", "--url", base]) == 1
    assert "409 Conflict: maintenance MW-20261123-0001 is scheduled" in capsys.readouterr().err
    soon = [*create[:-6], "--start", "2026-11-24T10:00:00Z", "--end", "2026-11-24T11:00:00Z",
            "--impact", "x"]  # fmt: skip
    assert main(soon) == 1  # too soon for a planned window
    assert main([*create[:-6], "--start", "tomorrow", "--end", "x", "--impact", "x"]) == 2
