"""Three outagewatch processes (fra, nyc, sfo) on one real PostgreSQL, each probing its own
view of sim/ (so a fault can be seen from some vantages only), all mailing one sink."""

from __future__ import annotations

import asyncio
import signal
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import yaml
from sqlalchemy.engine import make_url

from outagewatch.sim import ImapServer, SmtpServer

from ..daemon.test_daemon_e2e import Daemon, free_port
from ..store.conftest import _drop, _postgres_database

VANTAGES = ("fra", "nyc", "sfo")
LIST = "incidents-de-1@example.net"
TAKEOVER = 3.0
# How long the tests wait for an event (a mail, a leader): three daemons on a loaded 2-core
# machine start and detect slowly. A timeout, never a speed target.
PATIENCE = 60.0
# Each /readyz question gives up after this: an instance still starting may be slow to
# answer, and one stuck answer must not eat a wait meant for the others.
ASK = aiohttp.ClientTimeout(total=2)
RULES = {
    "slow_after": "500ms", "outage_after": "2s", "probe_interval": "250ms", "probe_timeout": "2s",
    "max_gap": "5s", "update_every": "3s", "oncall_repeat": "1h",
}  # fmt: skip


@dataclass
class Instance:
    vantage: str
    daemon: Daemon
    imap: ImapServer
    port: int

    async def status(self, session: aiohttp.ClientSession) -> dict[str, Any] | None:
        try:
            async with session.get(f"http://127.0.0.1:{self.port}/readyz") as response:
                return dict(await response.json())
        except (aiohttp.ClientError, TimeoutError):
            return None


@dataclass
class Cluster:
    tmp: Path
    sink: SmtpServer
    stack: AsyncExitStack
    url: str = ""
    admin: str = ""
    instances: dict[str, Instance] = field(default_factory=dict)

    async def start(self) -> None:
        self.url, self.admin = await _postgres_database()
        for vantage in VANTAGES:
            imap = await self.stack.enter_async_context(ImapServer())
            port = free_port()
            config = self.tmp / f"{vantage}.yaml"
            config.write_text(yaml.safe_dump(self._config(vantage, imap.port, port)))
            self.instances[vantage] = Instance(vantage, Daemon(config), imap, port)
        for instance in self.instances.values():
            await instance.daemon.start()

    def _config(self, vantage: str, imap_port: int, api_port: int) -> dict[str, Any]:
        return {
            "vantage": vantage, "vantages": list(VANTAGES), "database": self.url,
            "leader_takeover": f"{TAKEOVER:g}s",
            "api": {"listen": f"127.0.0.1:{api_port}"},
            "smtp": {"host": "127.0.0.1", "port": self.sink.port, "tls": "none",
                     "from": "noc@example.net"},
            "oncall": {"email": "oncall@example.net"},
            "outbox": {"send_timeout": "1s", "lease": "3s", "retry_base": "200ms",
                       "retry_cap": "1s"},
            "rules": RULES,
            "platforms": {"eu-de-1": {
                "name": "OX Cloud EU de-1",
                "lists": {"incident": [LIST], "informational": ["announce@example.net"]},
                "services": {"imap": {"protocol": "imap", "host": "127.0.0.1", "port": imap_port}},
            }},
        }  # fmt: skip

    async def stop(self) -> None:
        for instance in self.instances.values():
            if instance.daemon.proc is not None and instance.daemon.proc.returncode is None:
                await instance.daemon.stop(signal.SIGKILL)
        await _drop(make_url(self.url).database or "", self.admin)

    def fault(self, *vantages: str, delay: float = 1.0) -> None:
        for vantage, instance in self.instances.items():
            instance.imap.faults.greeting_delay = delay if vantage in vantages else 0.0

    async def leader(self, within: float = PATIENCE) -> Instance:
        """The one instance whose /readyz says it leads (waits for there to be one)."""
        async with aiohttp.ClientSession(timeout=ASK) as session, asyncio.timeout(within):
            while True:
                leaders = [
                    i for i in self.instances.values()
                    if (status := await i.status(session)) and status.get("leader")
                ]  # fmt: skip
                if len(leaders) == 1:
                    return leaders[0]
                await asyncio.sleep(0.1)

    async def transitions(self, vantage: str = "*") -> list[tuple[str, str]]:
        conn = await asyncpg.connect(
            make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            rows = await conn.fetch(
                "SELECT service, kind FROM transitions WHERE vantage = $1 ORDER BY id", vantage
            )
        finally:
            await conn.close()
        return [(r["service"], r["kind"]) for r in rows]

    async def lock_holder(self) -> tuple[int, str] | None:
        """The backend pid and application name holding the leader lock, if any."""
        conn = await asyncpg.connect(self.admin)
        try:
            row = await conn.fetchrow(
                "SELECT l.pid, a.application_name FROM pg_locks l"
                " JOIN pg_stat_activity a ON a.pid = l.pid"
                " WHERE l.locktype = 'advisory' AND l.granted AND a.datname = $1",
                make_url(self.url).database,
            )
        finally:
            await conn.close()
        return (int(row["pid"]), str(row["application_name"])) if row else None

    async def cut_leader_connection(self) -> int:
        """Terminate the session holding the leader lock, as a network cut would."""
        holder = await self.lock_holder()
        assert holder is not None
        conn = await asyncpg.connect(self.admin)
        try:
            return int(await conn.fetchval("SELECT pg_terminate_backend($1)::int", holder[0]))
        finally:
            await conn.close()

    def mails(self) -> list[tuple[str, str, int]]:
        """(subject, Message-ID, attempt) of every customer mail the sink accepted."""
        found = []
        for received in self.sink.messages:
            if LIST in received.rcpt_tos:
                mail = message_from_bytes(received.data, policy=policy.default)
                attempt = int(str(mail["X-Outagewatch-Attempt"] or "1"))
                found.append((str(mail["Subject"]), str(mail["Message-ID"]), attempt))
        return found

    async def wait_for_mail(self, word: str, within: float) -> None:
        async with asyncio.timeout(within):
            while not any(word in subject for subject, _, _ in self.mails()):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
