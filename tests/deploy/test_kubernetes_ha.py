"""The shape deploy/kubernetes runs: two replicas of one config on one PostgreSQL, so two
instances of ONE vantage (tests/ha has a vantage per instance). Both probe the same service
and write samples of the same series; one leads. An outage is declared and mailed once, the
leader is killed (a node lost), the other takes over, and the restoration is mailed once."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
import yaml
from sqlalchemy.engine import make_url

from outagewatch.sim import HttpServer, SmtpServer
from tests.daemon.test_daemon_e2e import Daemon, free_port
from tests.ha.cluster import RULES, TAKEOVER
from tests.ha.test_ha import assert_each_mail_once
from tests.store.conftest import _drop, _postgres_database

pytestmark = [pytest.mark.real, pytest.mark.timeout(300)]

LIST = "incidents-de-1@example.net"
PATIENCE = 60.0  # a loaded 2-core machine: a timeout, never a speed target


@dataclass
class Replica:
    daemon: Daemon
    port: int


@dataclass
class Deployment:
    web: HttpServer
    sink: SmtpServer
    url: str
    replicas: list[Replica]

    async def leader(self) -> Replica:
        """The one replica whose /readyz says it leads, once there is exactly one."""
        async with aiohttp.ClientSession() as session, asyncio.timeout(PATIENCE):
            while True:
                leading = [r for r in self.replicas if await leads(session, r)]
                if len(leading) == 1:
                    return leading[0]
                await asyncio.sleep(0.1)  # other processes: polling is all there is

    def mails(self) -> list[tuple[str, str, int]]:
        """(subject, Message-ID, attempt) of every customer mail the relay accepted."""
        found = []
        for received in self.sink.messages:
            if LIST in received.rcpt_tos:
                mail = message_from_bytes(received.data, policy=policy.default)
                attempt = int(str(mail["X-Outagewatch-Attempt"] or "1"))
                found.append((str(mail["Subject"]), str(mail["Message-ID"]), attempt))
        return found

    async def wait_for_mail(self, word: str) -> None:
        async with asyncio.timeout(PATIENCE):
            while not any(word in subject for subject, _, _ in self.mails()):  # noqa: ASYNC110
                await asyncio.sleep(0.1)

    async def transitions(self) -> list[tuple[str, str, str]]:
        dsn = make_url(self.url).set(drivername="postgresql")
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            rows = await conn.fetch("SELECT service, vantage, kind FROM transitions ORDER BY id")
        finally:
            await conn.close()
        return [(r["service"], r["vantage"], r["kind"]) for r in rows]


async def leads(session: aiohttp.ClientSession, replica: Replica) -> bool:
    proc = replica.daemon.proc
    if proc is None or proc.returncode is not None:
        return False
    try:
        async with session.get(f"http://127.0.0.1:{replica.port}/readyz") as response:
            return bool((await response.json()).get("leader"))
    except (aiohttp.ClientError, TimeoutError):
        return False


def config(url: str, port: int, web: HttpServer, sink: SmtpServer) -> dict[str, Any]:
    """The ConfigMap's shape: one vantage, PostgreSQL; only the listening port differs (in
    Kubernetes each pod has its own address)."""
    return {
        "vantage": "k8s", "database": url, "leader_takeover": f"{TAKEOVER:g}s",
        "api": {"listen": f"127.0.0.1:{port}"},
        "smtp": {"host": "127.0.0.1", "port": sink.port, "tls": "none", "from": "noc@example.net"},
        "oncall": {"email": "oncall@example.net"},
        "outbox": {"send_timeout": "1s", "lease": "3s", "retry_base": "200ms", "retry_cap": "1s"},
        "rules": {**RULES, "update_every": "1h"},
        "platforms": {"eu-de-1": {
            "name": "OX Cloud EU de-1",
            "lists": {"incident": [LIST], "informational": ["announce@example.net"]},
            "services": {"webmail": {"protocol": "http", "url": web.url}},
        }},
    }  # fmt: skip


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    url, admin = await _postgres_database()
    async with AsyncExitStack() as stack, HttpServer() as web, SmtpServer() as sink:
        stack.push_async_callback(_drop, make_url(url).database or "", admin)
        replicas = []
        for n in range(2):
            port = free_port()
            path = tmp_path / f"replica-{n}.yaml"
            path.write_text(yaml.safe_dump(config(url, port, web, sink)))
            replicas.append(Replica(Daemon(path), port))
        for replica in replicas:
            await replica.daemon.start()
            stack.push_async_callback(replica.daemon.stop, signal.SIGTERM)
        yield Deployment(web, sink, url, replicas)


async def test_two_replicas_of_one_vantage_mail_once_and_survive_the_leader(
    deployment: Deployment,
) -> None:
    first = await deployment.leader()
    deployment.web.faults.bad_banner = True  # 503: both replicas see the outage
    await deployment.wait_for_mail("— detected")
    first.daemon.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    second = await deployment.leader()
    assert second is not first
    deployment.web.faults.bad_banner = False
    await deployment.wait_for_mail("— restored")

    # One "detected", one "restored"; a mail the killed leader had handed to the relay but
    # not yet marked sent comes again with its Message-ID and X-Outagewatch-Attempt: 2.
    assert_each_mail_once(deployment)  # it reads only .mails()
    # Once for the vantage and once for the service across vantages ("*"): no second opening
    # by the new leader, which rebuilt its judgement from both replicas' samples.
    rows = await deployment.transitions()
    for vantage in ("k8s", "*"):
        assert [kind for _, v, kind in rows if v == vantage] == ["opened", "restored"], rows
    stopped = await second.daemon.stop()
    assert stopped == 0
    assert "Traceback" not in second.daemon.log, second.daemon.log
