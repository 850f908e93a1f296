"""SIGKILL the daemon at random moments of an incident, twenty times in a row: the lists
still get one "detected" mail, every update once and in sequence, and one "restored".

How many updates go out depends on how fast this machine restarts the daemon, so the test
asserts the invariants (one detected, one restored, updates numbered without a gap, none
twice) and a lower bound derived from the time the incident lasted and the longest
kill-to-kill cycle it measured, never a fixed count."""

from __future__ import annotations

import asyncio
import random
import re
import signal
import time
from collections import defaultdict
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import yaml

from outagewatch.sim import ImapServer, SmtpServer

from ..daemon.test_daemon_e2e import Daemon, free_port, wait_ready

KILLS = 20
LIST = "incidents-de-1@example.net"
UPDATE_EVERY = 3.0  # seconds, rules.update_every below
# A daemon gets at least this long after it answers /readyz before the next SIGKILL, so that
# it can run one detection round; the rest of each cycle is random.
FIRST_ROUND = 0.5
LEASE = 3.0  # outbox.lease: a mail claimed by a killed daemon waits this long for the next


def config(tmp_path: Path, imap: int, relay: int, api: int) -> Path:
    data = {
        "vantage": "fra",
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{api}"},
        "smtp": {"host": "127.0.0.1", "port": relay, "tls": "none", "from": "noc@example.net"},
        "oncall": {"email": "oncall@example.net"},
        "outbox": {"send_timeout": "1s", "lease": f"{LEASE:g}s", "retry_base": "200ms",
                   "retry_cap": "1s"},
        "rules": {
            "slow_after": "500ms", "outage_after": "2s", "probe_interval": "250ms",
            "probe_timeout": "2s", "max_gap": "10s", "update_every": f"{UPDATE_EVERY:g}s",
            "oncall_repeat": "1h",
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


@pytest.mark.timeout(400)
async def test_twenty_sigkills_during_an_incident(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"random seed {seed}")
    api = free_port()
    async with ImapServer() as imap, SmtpServer() as sink:
        daemon = Daemon(config(tmp_path, imap.port, sink.port, api))
        try:
            await daemon.start()
            imap.faults.greeting_delay = 1.0  # every sample slower than slow_after
            await wait_until(
                lambda: any("detected" in s for s, _ in customer_mails(sink)), within=60
            )
            detected_at = last_kill = time.monotonic()
            longest_cycle = 0.0
            for number in range(KILLS):
                if number % 2:  # every other kill lands in start-up (migration, restore)
                    await asyncio.sleep(rng.uniform(0.0, 1.5))
                else:
                    await wait_ready(api, within=60)
                    await asyncio.sleep(FIRST_ROUND + rng.uniform(0.0, 2.0))
                assert await daemon.stop(signal.SIGKILL) == -signal.SIGKILL
                longest_cycle = max(longest_cycle, time.monotonic() - last_kill)
                last_kill = time.monotonic()
                await daemon.start()
            cleared_at = time.monotonic()
            imap.faults.greeting_delay = 0
            await wait_until(
                lambda: any("restored" in s for s, _ in customer_mails(sink)), within=60
            )
            assert await daemon.stop(signal.SIGTERM) == 0
        finally:
            if daemon.proc is not None and daemon.proc.returncode is None:
                await daemon.stop(signal.SIGKILL)  # a failed run leaves no daemon behind

    ids_by_kind: dict[str, set[str]] = defaultdict(set)
    for subject, message_id in customer_mails(sink):
        kind = subject.rsplit(" — ", 1)[1]
        ids_by_kind[kind].add(message_id)
    assert len(ids_by_kind.pop("detected")) == 1, f"seed {seed}"
    assert len(ids_by_kind.pop("restored")) == 1, f"seed {seed}"
    numbers = sorted(int(re.fullmatch(r"update (\d+)", k).group(1)) for k in ids_by_kind)  # type: ignore[union-attr]
    assert numbers == list(range(1, len(numbers) + 1)), f"an update was skipped (seed {seed})"
    assert all(len(ids) == 1 for ids in ids_by_kind.values()), f"an update sent twice (seed {seed})"
    # An update falls due UPDATE_EVERY after the previous mail. A daemon killed during its
    # start-up hands it on, but every second cycle lets the daemon get ready and run a round,
    # so a due update waits at most two cycles, plus the lease when a killed daemon had
    # claimed it: no gap between customer mails exceeds UPDATE_EVERY + LEASE + 2 cycles,
    # which bounds the count from below.
    lower = int((cleared_at - detected_at) // (UPDATE_EVERY + LEASE + 2 * longest_cycle))
    print(f"{len(numbers)} updates in {cleared_at - detected_at:.1f} s, longest cycle "
          f"{longest_cycle:.1f} s, lower bound {lower}")  # fmt: skip
    assert lower >= 1, "the kills ended before a single update fell due: the test proved nothing"
    assert len(numbers) >= lower, f"updates stopped while the daemon was killed (seed {seed})"
