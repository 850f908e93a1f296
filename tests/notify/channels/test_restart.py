"""SIGKILL the daemon between PagerDuty's trigger and its resolve: after the restart the
resolve still goes out, on the dedup key the trigger used (kept in the database).

Killed as soon as PagerDuty has the trigger, the daemon may not have recorded it as sent:
then it sends the trigger again after the restart (at-least-once, the same dedup key, so
PagerDuty keeps one alert), and the resolve strictly after it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import yaml

from outagewatch.sim import ImapServer, SmtpServer
from tests.daemon.test_daemon_e2e import Daemon, free_port
from tests.notify.channels.receivers import ROUTING_KEY, receivers


def config(tmp_path: Path, imap: int, relay: int, url: str) -> Path:
    data = {
        "vantage": "fra",
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "smtp": {"host": "127.0.0.1", "port": relay, "tls": "none", "from": "noc@example.net"},
        "oncall": {"email": "oncall@example.net", "channels": ["pagerduty-ops"]},
        "channels": {"pagerduty-ops": {"type": "pagerduty", "routing_key_env": "PD_ROUTING_KEY",
                                       "url": f"{url}/v2/enqueue"}},
        "outbox": {"send_timeout": "2s", "lease": "5s", "retry_base": "200ms", "retry_cap": "1s"},
        "rules": {
            "slow_after": "500ms", "outage_after": "2s", "probe_interval": "250ms",
            "probe_timeout": "2s", "max_gap": "10s", "update_every": "1h", "oncall_repeat": "1h",
        },
        "platforms": {
            "eu-de-1": {
                "name": "OX Cloud EU de-1",
                "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                "services": {"imap": {"protocol": "imap", "host": "127.0.0.1", "port": imap}},
            }
        },
    }  # fmt: skip
    path = tmp_path / "ow.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.timeout(120)
async def test_a_resolve_survives_a_sigkill_after_the_trigger(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_ROUTING_KEY", ROUTING_KEY)  # the daemon inherits the environment
    async with ImapServer() as imap, SmtpServer() as sink, receivers() as peer:
        daemon = Daemon(config(tmp_path, imap.port, sink.port, peer.url))
        await daemon.start()
        imap.faults.greeting_delay = 1.0  # every sample slower than slow_after
        (trigger,) = await peer.wait_for("pagerduty", 1, within=60)
        assert await daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        imap.faults.greeting_delay = 0  # the service recovers while nobody watches
        await daemon.start()
        sent = await peer.wait_until(
            "pagerduty", lambda found: found[-1].body["event_action"] == "resolve", within=60
        )
        assert await daemon.stop(signal.SIGTERM) == 0
    actions = [r.body["event_action"] for r in sent]
    assert actions == ["trigger"] * (len(actions) - 1) + ["resolve"]
    assert {r.body["dedup_key"] for r in sent} == {trigger.body["dedup_key"]}
    assert trigger.body["dedup_key"].startswith("OW-")
    assert peer.violations == []
