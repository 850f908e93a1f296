"""Several vantages and high availability on the real PostgreSQL (DESIGN section 7)."""

from __future__ import annotations

import asyncio
import random
import re
import signal
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from outagewatch.sim import SmtpServer

from .cluster import TAKEOVER, Cluster

pytestmark = [pytest.mark.real, pytest.mark.timeout(300)]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with AsyncExitStack() as stack:
        sink = await stack.enter_async_context(SmtpServer())
        c = Cluster(tmp_path, sink, stack)
        await c.start()
        try:
            yield c
        finally:
            await c.stop()


def assert_each_mail_once(cluster: Cluster) -> list[str]:
    """Every Message-ID once, except resends marked as retries; updates numbered without gaps."""
    seen: dict[str, list[int]] = defaultdict(list)
    subjects: dict[str, str] = {}
    for subject, message_id, attempt in cluster.mails():
        seen[message_id].append(attempt)
        subjects[message_id] = subject
    for message_id, attempts in seen.items():
        assert attempts[0] >= 1 and all(a > 1 for a in attempts[1:]), (message_id, attempts)
    kinds = [s.rsplit(" — ", 1)[1] for s in subjects.values()]
    assert kinds.count("detected") == 1 and kinds.count("restored") == 1, kinds
    numbers = sorted(int(m.group(1)) for k in kinds if (m := re.fullmatch(r"update (\d+)", k)))
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    return kinds


async def test_one_vantage_alone_opens_nothing_two_of_three_do(cluster: Cluster) -> None:
    await cluster.leader()
    cluster.fault("fra")  # fra's own view of the service is bad
    async with asyncio.timeout(15):  # until fra alone has declared its own outage
        while ("imap", "opened") not in await cluster.transitions("fra"):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    # The leader judged the service in the same round: one vantage is no quorum.
    assert await cluster.transitions("*") == []
    cluster.fault("fra", "nyc")
    await cluster.wait_for_mail("IMAP — detected", within=15)
    assert await cluster.transitions("*") == [("imap", "opened")]


async def leader_killed(cluster: Cluster) -> float:
    """SIGKILL the leader; the seconds until another instance leads."""
    old = await cluster.leader()
    assert await old.daemon.stop(signal.SIGKILL) == -signal.SIGKILL
    killed = time.monotonic()
    new = await cluster.leader(within=TAKEOVER + 10)
    assert new is not old
    took = time.monotonic() - killed
    await old.daemon.start()
    return took


async def test_leader_killed_during_an_incident(cluster: Cluster) -> None:
    cluster.fault("fra", "nyc", "sfo")
    await cluster.wait_for_mail("IMAP — detected", within=20)
    took = await leader_killed(cluster)
    assert took <= TAKEOVER + 1.0
    await cluster.wait_for_mail("update 2", within=20)  # the cadence goes on
    cluster.fault()
    await cluster.wait_for_mail("restored", within=20)
    assert_each_mail_once(cluster)


async def test_leader_database_connection_cut(cluster: Cluster) -> None:
    cluster.fault("fra", "nyc", "sfo")
    await cluster.wait_for_mail("IMAP — detected", within=20)
    await cluster.leader()
    before = await cluster.lock_holder()
    assert before is not None
    assert await cluster.cut_leader_connection() == 1
    cut = time.monotonic()
    async with asyncio.timeout(TAKEOVER + 10):
        while (holder := await cluster.lock_holder()) is None or holder[0] == before[0]:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    assert time.monotonic() - cut <= TAKEOVER + 1.0
    await cluster.leader()  # exactly one instance says it leads: the old one stepped down
    await cluster.wait_for_mail("update 2", within=20)
    cluster.fault()
    await cluster.wait_for_mail("restored", within=20)
    assert_each_mail_once(cluster)


async def test_twenty_leader_kills(cluster: Cluster) -> None:
    rng = random.Random()
    cluster.fault("fra", "nyc", "sfo")
    await cluster.wait_for_mail("IMAP — detected", within=20)
    for _ in range(20):
        await asyncio.sleep(rng.uniform(0.1, 1.5))
        await leader_killed(cluster)
    cluster.fault()
    await cluster.wait_for_mail("restored", within=30)
    kinds = assert_each_mail_once(cluster)
    assert kinds.count("detected") == 1
