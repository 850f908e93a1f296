"""Detection latency: from the moment the outage rule became true to the detected mail.

Each run starts the real `Daemon` in-process with compressed timings on a fresh SQLite file,
one platform with one HTTP service on a simulator and a simulated SMTP relay as the mail
sink. After a healthy start the simulator answers 503 to everything; the rule becomes true
``outage_after`` after the first bad sample's start (the stored transition's ``at``), and
the run ends when the relay has accepted the customer's "detected" mail.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.config import Config, parse_config
from outagewatch.daemon.process import Daemon
from outagewatch.detection import transitions as transition_store
from outagewatch.detection.detector import SERVICE_LEVEL
from outagewatch.detection.rule import Opened
from outagewatch.sim import HttpServer, SmtpServer
from outagewatch.store.engine import open_engine
from outagewatch.store.tables import transitions

RULES = {
    "slow_after": "500ms", "probe_timeout": "2s", "probe_interval": "1s", "outage_after": "3s",
    "max_gap": "3s", "restore_after": 2, "update_every": "1h", "oncall_repeat": "1h",
}  # fmt: skip
PROBE_INTERVAL = 1.0
PLATFORM, SERVICE = "eu-de-1", "webmail"
HEALTHY_PROBES = 2
RUN_TIMEOUT = 60.0


@dataclass(frozen=True)
class DetectionRun:
    rule_true_at: datetime  # the transition's ``at``
    recorded_at: datetime  # when the detector wrote the transition
    mailed_at: datetime  # when the relay accepted the "detected" mail

    @property
    def latency(self) -> float:
        return (self.mailed_at - self.rule_true_at).total_seconds()

    @property
    def to_decision(self) -> float:
        return (self.recorded_at - self.rule_true_at).total_seconds()


def _config(http: HttpServer, relay: SmtpServer, database: Path) -> Config:
    return parse_config(
        {
            "vantage": "bench",
            "database": f"sqlite+aiosqlite:///{database}",
            "api": {"listen": f"127.0.0.1:{_free_port()}"},
            "smtp": {"host": "127.0.0.1", "port": relay.port, "tls": "none",
                     "from": "OX Cloud Operations <noc@example.net>"},
            "oncall": {"email": "oncall@example.net"},
            "outbox": {"send_timeout": "2s", "lease": "10s", "retry_base": "1s", "retry_cap": "5s"},
            "rules": RULES,
            "platforms": {
                PLATFORM: {
                    "name": "OX Cloud EU de-1",
                    "timezone": "Europe/Berlin",
                    "holidays": "DE",
                    "lists": {"incident": ["incidents-de-1@example.net"],
                              "informational": ["announce-de-1@example.net"]},
                    "services": {SERVICE: {"protocol": "http", "url": http.url,
                                           "expect_body": "OX App Suite"}},
                }
            },
        }
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _is_detected_mail(data: bytes) -> bool:
    subject = str(message_from_bytes(data, policy=policy.default)["Subject"] or "")
    return subject.endswith("— detected") and not subject.startswith("[on-call]")


async def _detected_mail_time(relay: SmtpServer) -> datetime:
    """When the relay accepted the customer's detected mail, stamped as it arrives."""
    seen = 0
    while True:
        messages = await relay.wait_for_messages(seen + 1)
        stamp = datetime.now(UTC)
        for message in messages[seen:]:
            if _is_detected_mail(message.data):
                return stamp
        seen = len(messages)


async def one_run(workdir: Path) -> DetectionRun:
    database = workdir / "detection.db"  # open_engine makes the folder
    async with HttpServer() as http, SmtpServer() as relay:
        config = _config(http, relay, database)
        daemon = Daemon(config)
        running = asyncio.create_task(daemon.run())
        try:
            async with asyncio.timeout(RUN_TIMEOUT):
                await http.wait_accepted(HEALTHY_PROBES)
                http.faults.bad_banner = True
                mailed_at = await _detected_mail_time(relay)
        finally:
            daemon.stop()
            await running
    engine = open_engine(config.database)
    try:
        async with engine.connect() as conn:
            event = await transition_store.last_event(conn, PLATFORM, SERVICE, SERVICE_LEVEL)
            recorded = await _recorded_at(conn)
    finally:
        await engine.dispose()
    if not isinstance(event, Opened):
        raise RuntimeError("the detected mail came, but no outage transition is stored")
    return DetectionRun(event.detected_at, recorded, mailed_at)


async def _recorded_at(conn: AsyncConnection) -> datetime:
    value = await conn.scalar(
        select(transitions.c.recorded_at).where(
            transitions.c.vantage == SERVICE_LEVEL, transitions.c.kind == "opened"
        )
    )
    assert isinstance(value, datetime)
    return value


async def measure(runs: int, workdir: Path) -> list[DetectionRun]:
    handler = logging.FileHandler(workdir / "detection.log")
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    results = []
    try:
        for index in range(runs):
            results.append(await one_run(workdir / f"run-{index:02d}"))
    finally:
        root.removeHandler(handler)
        handler.close()
    return results
