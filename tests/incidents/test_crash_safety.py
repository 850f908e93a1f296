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
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import aiohttp
import pytest
import yaml

from outagewatch.sim import ImapServer, SmtpServer
from outagewatch.store import tokens
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade

from ..daemon.test_daemon_e2e import Daemon, free_port, wait_ready
from .world import text

KILLS = 20
LIST = "incidents-de-1@example.net"
UPDATE_EVERY = 3.0  # seconds, rules.update_every below
# A daemon gets at least this long after it answers /readyz before the next SIGKILL, so that
# it can run one detection round; the rest of each cycle is random.
FIRST_ROUND = 0.5
LEASE = 3.0  # outbox.lease: a mail claimed by a killed daemon waits this long for the next


def config(
    tmp_path: Path, imap: int, relay: int, api: int | None = None,
    update_every: str = f"{UPDATE_EVERY:g}s", **outbox: str,
) -> Path:  # fmt: skip
    data = {
        "vantage": "fra",
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{api or free_port()}"},
        "smtp": {"host": "127.0.0.1", "port": relay, "tls": "none", "from": "noc@example.net"},
        "oncall": {"email": "oncall@example.net"},
        "outbox": {"send_timeout": "1s", "lease": f"{LEASE:g}s", "retry_base": "200ms",
                   "retry_cap": "1s", **outbox},
        "rules": {
            "slow_after": "500ms", "outage_after": "2s", "probe_interval": "250ms",
            "probe_timeout": "2s", "max_gap": "10s", "update_every": update_every,
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


async def api_token(tmp_path: Path) -> str:
    """An on-call token in the daemon's database, made before the daemon starts."""
    engine = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}")
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            token, _ = await tokens.create(conn, "alice", "oncall", datetime.now(UTC))
    finally:
        await engine.dispose()
    return token


async def post_message(api: str, token: str, ref: str, message: str) -> None:
    """Posted once: retried only while the (restarting) daemon does not answer at all."""
    headers = {"Authorization": f"Bearer {token}"}
    async with asyncio.timeout(30), aiohttp.ClientSession(headers=headers) as session:
        while True:
            try:
                async with session.post(
                    f"{api}/api/v1/incidents/{ref}/updates", json={"message": message}
                ) as response:
                    assert response.status == 200, await response.text()
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)  # not listening yet


@pytest.mark.timeout(240)
async def test_sigkills_while_updates_supersede_each_other(tmp_path: Path) -> None:
    """The relay refuses while engineers post and hourly updates (every 500 ms here) keep
    superseding the waiting one; the daemon is SIGKILLed at random moments of that. When the
    relay is back the list gets every message exactly once, in order, in one update."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    print(f"random seed {seed}")
    token = await api_token(tmp_path)
    messages = [f"Engineer message {n:02d}." for n in range(1, KILLS // 2 + 1)]
    async with ImapServer() as imap, SmtpServer() as sink:
        path = config(tmp_path, imap.port, sink.port, update_every="500ms")
        api = f"http://{yaml.safe_load(path.read_text())['api']['listen']}"
        daemon = Daemon(path)
        await daemon.start()
        imap.faults.greeting_delay = 1.0
        await wait_until(lambda: any("detected" in s for s, _ in customer_mails(sink)), within=30)
        ref = customer_mails(sink)[0][1].split(".")[0].lstrip("<")
        await sink.set_refusing(True)
        for message in messages:
            await post_message(api, token, ref, message)
            await asyncio.sleep(rng.uniform(0.0, 1.2))  # due updates supersede meanwhile
            assert await daemon.stop(signal.SIGKILL) == -signal.SIGKILL
            await daemon.start()
        before = len(customer_mails(sink))
        await sink.set_refusing(False)
        await wait_until(lambda: len(customer_mails(sink)) > before, within=30)
        imap.faults.greeting_delay = 0
        await wait_until(lambda: any("restored" in s for s, _ in customer_mails(sink)), within=30)
        assert await daemon.stop(signal.SIGTERM) == 0

    bodies = [
        (str(mail["Subject"]).rsplit(" — ", 1)[1], text(mail))
        for received in sink.messages
        if LIST in received.rcpt_tos
        for mail in [message_from_bytes(received.data, policy=policy.default)]
    ]
    told = [line for _, body in bodies for line in body.splitlines() if "Engineer message" in line]
    assert [line.rsplit(": ", 1)[1] for line in told] == messages, f"seed {seed}"
    kinds = [kind for kind, _ in bodies]
    assert kinds[0] == "detected" and kinds[-1] == "restored", f"seed {seed}"
    numbers = [int(k.removeprefix("update ")) for k in kinds[1:-1]]
    assert numbers == list(range(1, len(numbers) + 1)), f"update numbers {numbers} (seed {seed})"
