"""The real daemon as a subprocess with compressed rules, the web on, sim/ servers for its
services and a sim SMTP server (aiosmtpd) as its relay: what the browser tests look at."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import pytest
import yaml

from outagewatch.config import load_config
from outagewatch.sim import HttpServer, ImapServer, SmtpServer
from outagewatch.store import tokens
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade

from ..daemon.test_daemon_e2e import Daemon, free_port

PLATFORM = "eu-de-1"
RULES = {
    "slow_after": "500ms", "outage_after": "3s", "probe_interval": "250ms",
    "probe_timeout": "2s", "max_gap": "2s", "update_every": "1h", "oncall_repeat": "10m",
    # Long enough that the engineer's "restore" comes before detection's own.
    "restore_after": 40,
}  # fmt: skip


@dataclass
class World:
    url: str
    webmail: HttpServer
    relay: SmtpServer
    tokens: dict[str, str]
    daemon: Daemon

    def mails(self) -> list[EmailMessage]:
        return [
            message_from_bytes(m.data, policy=policy.default)  # type: ignore[misc]
            for m in self.relay.messages
        ]

    async def mail(self, matches: Callable[[str], bool], within: float = 20) -> EmailMessage:
        """The first mail whose subject matches, awaited as it arrives at the relay."""
        async with asyncio.timeout(within):
            while True:
                for mail in self.mails():
                    if matches(str(mail["Subject"])):
                        return mail
                await self.relay.wait_for_messages(len(self.relay.messages) + 1)


async def _tokens(config_path: Path) -> dict[str, str]:
    config = load_config(config_path)
    engine = open_engine(config.database)
    try:
        await upgrade(engine)
        now = datetime.now(UTC)
        async with engine.begin() as conn:
            return {
                role: (await tokens.create(conn, name, role, now))[0]
                for name, role in (("alice", "oncall"), ("vera", "viewer"))
            }
    finally:
        await engine.dispose()


async def _until_serving(url: str) -> None:
    async with aiohttp.ClientSession() as session, asyncio.timeout(30):
        while True:
            try:
                async with session.get(f"{url}/status/{PLATFORM}") as response:
                    if response.status == 200 and "All services operational" in (
                        await response.text()
                    ):
                        return
            except aiohttp.ClientConnectionError:
                pass  # not listening yet
            await asyncio.sleep(0.1)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    async with HttpServer() as webmail, ImapServer() as imap, SmtpServer() as relay:
        config = tmp_path / "ow.yaml"
        config.write_text(yaml.safe_dump({
            "vantage": "fra",
            "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
            "api": {"listen": f"127.0.0.1:{port}"},
            "web": {"status_page": True, "public_url": url},
            "smtp": {"host": "127.0.0.1", "port": relay.port, "tls": "none",
                     "from": "OX Cloud Operations <noc@example.net>"},
            "oncall": {"email": "oncall@example.net"},
            "outbox": {"send_timeout": "2s", "lease": "10s", "retry_base": "1s",
                       "retry_cap": "5s"},
            "rules": RULES,
            "platforms": {PLATFORM: {
                "name": "OX Cloud EU de-1", "timezone": "Europe/Berlin", "holidays": "DE",
                "lists": {"incident": ["incidents-de-1@example.net"],
                          "informational": ["announce-de-1@example.net"]},
                "services": {
                    "webmail": {"protocol": "http", "url": webmail.url},
                    "imap": {"protocol": "imap", "host": "127.0.0.1", "port": imap.port},
                },
            }},
        }))  # fmt: skip
        issued = await _tokens(config)
        daemon = Daemon(config)
        await daemon.start()
        try:
            await _until_serving(url)
            yield World(url, webmail, relay, issued, daemon)
        finally:
            await daemon.stop()
