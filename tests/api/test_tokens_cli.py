"""``outagewatch token create|list|revoke`` on a temporary config and SQLite file."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from outagewatch.cli.main import main
from outagewatch.store import tokens
from outagewatch.store.engine import open_engine

EXAMPLE = Path(__file__).parents[2] / "config" / "outagewatch.example.yaml"
EXIT_OK, EXIT_INPUT = 0, 2


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("OUTAGEWATCH_CONFIG", raising=False)
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
    data["database"] = f"sqlite+aiosqlite:///{tmp_path / 'db' / 'ow.db'}"
    path = tmp_path / "outagewatch.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def authenticate(config: Path, presented: str) -> tuple[str, str] | None:
    database = yaml.safe_load(config.read_text())["database"]

    async def go() -> tuple[str, str] | None:
        engine = open_engine(database)
        try:
            async with engine.begin() as conn:
                return await tokens.authenticate(conn, presented, datetime.now(UTC))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def create(config: Path, name: str, role: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["token", "create", "--name", name, "--role", role, "-c", str(config)]) == EXIT_OK
    return capsys.readouterr().out.strip()


def test_create_prints_a_working_token_once(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "create", "--name", "alice", "--role", "oncall", "-c", str(config)]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") == 1  # the token alone, so that $(…) captures exactly it
    token = out.strip()
    assert token.startswith("ow_")
    assert "will not be shown again" in err
    assert token not in err
    assert authenticate(config, token) == ("alice", "oncall")


def test_list_shows_names_roles_and_times_but_no_secret(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = create(config, "alice", "admin", capsys)
    bob = create(config, "bob", "viewer", capsys)
    authenticate(config, alice)
    assert main(["token", "revoke", "--name", "bob", "-c", str(config)]) == EXIT_OK
    capsys.readouterr()

    assert main(["token", "list", "-c", str(config)]) == EXIT_OK
    out = capsys.readouterr().out
    header, alice_line, bob_line = out.splitlines()
    assert header.split() == ["NAME", "ROLE", "CREATED", "LAST", "USED", "REVOKED"]
    assert alice_line.split()[:2] == ["alice", "admin"]
    assert alice_line.rstrip().endswith("-")  # used, not revoked
    assert "never" not in alice_line
    assert bob_line.split()[:2] == ["bob", "viewer"]
    assert "never" in bob_line
    assert not bob_line.rstrip().endswith("-")  # revoked: a time
    for secret in (alice, bob, alice[3:], bob[3:]):
        assert secret not in out
    assert len([w for w in out.split() if len(w) == 64]) == 0  # no hex SHA-256 either


def test_list_without_tokens_says_how_to_make_one(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "list", "-c", str(config)]) == EXIT_OK
    assert "outagewatch token create" in capsys.readouterr().out


def test_revoke_takes_effect_at_once(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = create(config, "alice", "admin", capsys)
    assert main(["token", "revoke", "--name", "alice", "-c", str(config)]) == EXIT_OK
    assert capsys.readouterr().out == "revoked token 'alice'\n"
    assert authenticate(config, token) is None


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (
            ["token", "create", "--name", "alice", "--role", "root"],
            "token create: role 'root': use one of viewer, oncall, admin",
        ),
        (
            ["token", "create", "--name", "alice smith", "--role", "viewer"],
            "token create: name 'alice smith': use 1 to 64 characters",
        ),
        (["token", "revoke", "--name", "nobody"], "token revoke: no active token named 'nobody'"),
    ],
    ids=["unknown-role", "bad-name", "unknown-name"],
)
def test_bad_input_exits_2_with_one_line(
    config: Path, capsys: pytest.CaptureFixture[str], argv: list[str], reason: str
) -> None:
    assert main([*argv, "-c", str(config)]) == EXIT_INPUT
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(reason)


def test_a_duplicate_name_exits_2_and_keeps_the_first_token(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = create(config, "alice", "viewer", capsys)
    assert main(["token", "create", "--name", "alice", "--role", "admin", "-c", str(config)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert (
        err
        == "token create: name 'alice': a token with this name exists (revoked names stay taken)\n"
    )
    assert authenticate(config, first) == ("alice", "viewer")


def test_revoking_twice_is_an_error_the_second_time(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create(config, "alice", "viewer", capsys)
    assert main(["token", "revoke", "--name", "alice", "-c", str(config)]) == EXIT_OK
    assert main(["token", "revoke", "--name", "alice", "-c", str(config)]) == EXIT_INPUT
    assert capsys.readouterr().err == "token revoke: no active token named 'alice'\n"
