"""``outagewatch channels test NAME`` against a local receiver: what the other side said."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import yaml

from outagewatch.sim import SmtpServer
from tests.notify.channels.receivers import receivers
from tests.notify.channels.world import SECRETS, config_data


async def run_cli(config: Path, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "outagewatch", "channels", "test", *args, "-c", str(config),
        env={**os.environ, **SECRETS},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_channels_test_sends_one_message_and_says_what_came_back(tmp_path: Path) -> None:
    async with SmtpServer() as sink, receivers() as peer:
        path = tmp_path / "ow.yaml"
        path.write_text(yaml.safe_dump(config_data(tmp_path / "ow.db", sink.port, peer.url)))

        code, out, _ = await run_cli(path, "pagerduty-ops")
        assert code == 0
        assert out.splitlines() == [
            "pagerduty-ops: sent; the other side answered HTTP 202 Event processed; success",
            "pagerduty-ops: resolved again; answered HTTP 202 Event processed; success",
        ]
        trigger, resolve = [r.body for r in peer.of("pagerduty")]
        assert trigger["event_action"] == "trigger" and trigger["payload"]["severity"] == "info"
        assert resolve["event_action"] == "resolve"
        assert resolve["dedup_key"] == trigger["dedup_key"]

        code, out, _ = await run_cli(path, "teams-ops")
        assert (code, out.strip()) == (0, "teams-ops: sent; the other side answered HTTP 202")

        peer.fault(400, vendor="slack")
        code, _, err = await run_cli(path, "ops-chat")
        assert code == 1
        assert err.strip() == "ops-chat: refused for good: Slack: HTTP 400 scripted 400"

        code, _, err = await run_cli(path, "nope")
        assert code == 2 and "no channel 'nope'" in err
        assert peer.violations == []


async def test_check_config_lists_the_channels_and_where_they_go(tmp_path: Path) -> None:
    path = tmp_path / "ow.yaml"
    path.write_text(yaml.safe_dump(config_data(tmp_path / "ow.db", 25, "http://127.0.0.1:9")))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "outagewatch", "check-config", "--secrets", "-c", str(path),
        env={**os.environ, **SECRETS}, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 0
    lines = out.decode().splitlines()
    assert "channel pagerduty-ops: pagerduty (paging), platforms: eu-de-1" in lines
    assert "channel ops-chat: slack (chat), platforms: eu-de-1" in lines
    assert not any(secret in out.decode() for secret in SECRETS.values())
