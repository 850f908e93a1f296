"""SIGKILL the daemon at random moments of an incident, twenty times in a row: the lists
still get one "detected" mail, every update once and in sequence, and one "restored"."""

from __future__ import annotations

import asyncio
import random
import re
import signal
from collections import defaultdict
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import yaml

from outagewatch.sim import ImapServer, SmtpServer

from ..daemon.test_daemon_e2e import Daemon, free_port

KILLS = 20
LIST = "incidents-de-1@example.net"


def config(tmp_path: Path, imap: int, relay: int) -> Path:
    data = {
        "vantage": "fra",
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "smtp": {"host": "127.0.0.1", "port": relay, "tls": "none", "from": "noc@example.net"},
        "oncall": {"email": "oncall@example.net"},
        "outbox": {"send_timeout": "1s", "lease": "3s", "retry_base": "200ms", "retry_cap": "1s"},
        "rules": {
            "slow_after": "500ms", "outage_after": "2s", "probe_interval": "250ms",
            "probe_timeout": "2s", "max_gap": "10s", "update_every": "3s", "oncall_repeat": "1h",
        },
        "platforms": {
            "eu-de-1": {
                "name": "OX Cloud EU de-1",
                "lists": {"incident": [LIST], "informational": ["announce@example.net"]},
                "services": {"imap": {"protocol": "imap", "host": "127.0.0.1", "port": imap}},
            }
        },
    }  # fmt: skip
    path = tmp_path / "ow.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def customer_mails(sink: SmtpServer) -> list[tuple[str, str]]:
    found = []
    for received in sink.messages:
        mail = message_from_bytes(received.data, policy=policy.default)
        if LIST in received.rcpt_tos:
            found.append((str(mail["Subject"]), str(mail["Message-ID"])))
    return found


async def wait_until(condition: object, within: float) -> None:
    async with asyncio.timeout(within):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110 - a list filled by aiosmtpd
            await asyncio.sleep(0.05)


@pytest.mark.timeout(240)
async def test_twenty_sigkills_during_an_incident(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"random seed {seed}")
    async with ImapServer() as imap, SmtpServer() as sink:
        daemon = Daemon(config(tmp_path, imap.port, sink.port))
        await daemon.start()
        imap.faults.greeting_delay = 1.0  # every sample slower than slow_after
        await wait_until(lambda: any("detected" in s for s, _ in customer_mails(sink)), within=30)
        for _ in range(KILLS):
            await asyncio.sleep(rng.uniform(0.1, 2.5))
            assert await daemon.stop(signal.SIGKILL) == -signal.SIGKILL
            await daemon.start()
        imap.faults.greeting_delay = 0
        await wait_until(lambda: any("restored" in s for s, _ in customer_mails(sink)), within=30)
        assert await daemon.stop(signal.SIGTERM) == 0

    ids_by_kind: dict[str, set[str]] = defaultdict(set)
    for subject, message_id in customer_mails(sink):
        kind = subject.rsplit(" — ", 1)[1]
        ids_by_kind[kind].add(message_id)
    assert len(ids_by_kind.pop("detected")) == 1, f"seed {seed}"
    assert len(ids_by_kind.pop("restored")) == 1, f"seed {seed}"
    numbers = sorted(int(re.fullmatch(r"update (\d+)", k).group(1)) for k in ids_by_kind)  # type: ignore[union-attr]
    assert numbers == list(range(1, len(numbers) + 1)), f"an update was skipped (seed {seed})"
    assert len(numbers) >= 5
    assert all(len(ids) == 1 for ids in ids_by_kind.values()), f"an update sent twice (seed {seed})"
