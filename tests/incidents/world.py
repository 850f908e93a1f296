"""A controlled-clock world for incident scenarios: a real SQLite database, the incident
engine, the outbox sender and a real SMTP sink (sim/ on loopback). Transitions are written
as the detector writes them; mails are read back as the customers' lists receive them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from outagewatch.config import Config, parse_config
from outagewatch.detection.rule import Opened, Restored
from outagewatch.incidents.engine import IncidentEngine, audiences
from outagewatch.metrics import Metrics
from outagewatch.notify.delivery import Delivery
from outagewatch.notify.sender import Sender
from outagewatch.sim import SmtpServer
from outagewatch.store import transitions
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LISTS = {
    "eu-de-1": ("oxcloud-de-1-incidents@open-xchange.com", "oxcloud-de-1@open-xchange.com"),
    "us": ("oxcloud-us-incidents@open-xchange.com", "oxcloud-us@open-xchange.com"),
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def config_for(
    relay_port: int, db: Path, *, smtp: dict[str, Any] | None = None,
    outbox: dict[str, Any] | None = None, **rules: str,
) -> Config:  # fmt: skip
    services = {
        "webmail": {"protocol": "http", "url": "http://127.0.0.1:9/"},
        "smtp": {"protocol": "smtp", "host": "127.0.0.1", "port": 9},
        "imap": {"protocol": "imap", "host": "127.0.0.1", "port": 9},
        "pop3": {"protocol": "pop3", "host": "127.0.0.1", "port": 9},
    }
    return parse_config(
        {
            "vantage": "fra",
            "database": f"sqlite+aiosqlite:///{db}",
            "smtp": {"host": "127.0.0.1", "port": relay_port, "tls": "none",
                     "from": "OX Cloud Operations <noc@example.net>", **(smtp or {})},
            "outbox": outbox or {},
            "oncall": {"email": "oncall@example.net"},
            "rules": {"update_every": "1h", "oncall_repeat": "10m", **rules},
            "platforms": {
                "eu-de-1": {"name": "OX Cloud EU de-1", "timezone": "Europe/Berlin",
                            "holidays": "DE", "services": services,
                            "lists": {"incident": [LISTS["eu-de-1"][0]],
                                      "informational": [LISTS["eu-de-1"][1]]}},
                "us": {"name": "OX Cloud US", "timezone": "America/New_York", "holidays": "US",
                       "services": services,
                       "lists": {"incident": [LISTS["us"][0]], "informational": [LISTS["us"][1]]}},
            },
        }
    )  # fmt: skip


@dataclass
class World:
    sink: SmtpServer
    config: Config
    metrics: Metrics = field(default_factory=Metrics)
    seen: int = 0

    async def start(self) -> None:
        self.db = open_engine(self.config.database)
        await upgrade(self.db)
        self.engine = IncidentEngine(self.db, audiences(self.config))
        outbox = self.config.outbox
        delivery = Delivery.of(
            self.config.smtp, relay_check=outbox.relay_check, failover_after=outbox.failover_after
        )
        self.sender = Sender(
            self.db, delivery, self.metrics, worker="test",
            on_relay_back=self.engine.rewrite_waiting_updates,
        )  # fmt: skip

    async def close(self) -> None:
        await self.db.dispose()

    async def outage(
        self, platform: str, service: str, started: datetime, detected: datetime
    ) -> None:
        async with self.db.begin() as conn:
            await transitions.record(
                conn, platform, service, "*", Opened(started, detected), detected
            )

    async def restored(
        self, platform: str, service: str, started: datetime, restored: datetime
    ) -> None:
        async with self.db.begin() as conn:
            event = Restored(started, restored, restored + timedelta(seconds=30))
            await transitions.record(conn, platform, service, "*", event, restored)

    async def run(self, now: datetime) -> list[EmailMessage]:
        """Everything due at ``now``: decisions, then delivery; the mails received since."""
        while await self.engine.step(now):
            pass
        while await self.sender.step(now):
            pass
        await self.sender.export_backlog(now)
        new = self.sink.messages[self.seen :]
        self.seen = len(self.sink.messages)
        return [message_from_bytes(m.data, policy=policy.default) for m in new]  # type: ignore[misc]

    async def act(self, ref: str, action: Any, now: datetime) -> None:
        from outagewatch.store import incidents as store

        async with self.db.connect() as conn:
            stored = await store.by_ref(conn, ref)
        assert stored is not None and stored.incident.id is not None
        await self.engine.act(stored.incident.id, action, now)


def text(mail: EmailMessage) -> str:
    """The plain-text part (mails also carry an HTML alternative)."""
    part = mail.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def customer(mails: list[EmailMessage]) -> list[EmailMessage]:
    return [m for m in mails if not str(m["Subject"]).startswith("[on-call]")]


def subjects(mails: list[EmailMessage]) -> list[str]:
    return [str(m["Subject"]) for m in customer(mails)]
