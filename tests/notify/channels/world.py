"""A controlled-clock world with channels: the incident engine, the outbox sender with the
channels' transports, a real SMTP sink, and the vendors' stand-ins (receivers.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from outagewatch.config import Config, parse_config
from outagewatch.detection.rule import Opened, Restored
from outagewatch.incidents.engine import IncidentEngine, audiences
from outagewatch.metrics import Metrics
from outagewatch.notify.channels import build_all
from outagewatch.notify.delivery import Delivery
from outagewatch.notify.sender import Sender
from outagewatch.store import incidents as store
from outagewatch.store import transitions
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade
from tests.notify.channels.receivers import (
    GENIE_KEY,
    ROUTING_KEY,
    SLACK_PATH,
    TEAMS_PATH,
    WEBHOOK_SECRET,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LIST = "incidents-de-1@example.net"
PUBLIC_URL = "https://status.example.net"
PD_WEBHOOK_SECRET = "pd-webhook-secret-1"
JSM_CALLBACK_TOKEN = "jsm-callback-token-1"
SECRETS = {
    "PD_ROUTING_KEY": ROUTING_KEY,
    "OPSGENIE_KEY": GENIE_KEY,
    "OW_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "PD_WEBHOOK_SECRET": PD_WEBHOOK_SECRET,
    "JSM_CALLBACK_TOKEN": JSM_CALLBACK_TOKEN,
}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@contextmanager
def secrets_in_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in SECRETS.items():
            mp.setenv(name, value)
        yield


def config_data(db: Path, relay_port: int, url: str) -> dict[str, Any]:
    services = {
        "webmail": {"protocol": "http", "url": "http://127.0.0.1:9/"},
        "imap": {"protocol": "imap", "host": "127.0.0.1", "port": 9},
        "pop3": {"protocol": "pop3", "host": "127.0.0.1", "port": 9},  # Sev 3 alone
    }
    return {
        "vantage": "fra",
        "database": f"sqlite+aiosqlite:///{db}",
        "smtp": {"host": "127.0.0.1", "port": relay_port, "tls": "none",
                 "from": "OX Cloud Operations <noc@example.net>"},
        "oncall": {"email": "oncall@example.net", "min_severity": 2,
                   "channels": ["pagerduty-ops", "jsm-ops", "ops-chat", "teams-ops", "hooks"]},
        "channels": {
            "pagerduty-ops": {"type": "pagerduty", "routing_key_env": "PD_ROUTING_KEY",
                              "webhook_secret_env": "PD_WEBHOOK_SECRET",
                              "url": f"{url}/v2/enqueue"},
            "jsm-ops": {"type": "opsgenie", "api_key_env": "OPSGENIE_KEY", "url": url,
                        "callback_token_env": "JSM_CALLBACK_TOKEN"},
            "ops-chat": {"type": "slack", "url": url + SLACK_PATH, "min_severity": 3},
            "teams-ops": {"type": "teams", "url": url + TEAMS_PATH},
            "hooks": {"type": "webhook", "url": f"{url}/hook", "secret_env": "OW_WEBHOOK_SECRET"},
        },
        "web": {"public_url": PUBLIC_URL},
        "outbox": {"send_timeout": "2s", "lease": "1m", "retry_base": "1s", "retry_cap": "10s"},
        "rules": {"update_every": "1h", "oncall_repeat": "10m"},
        "platforms": {
            "eu-de-1": {"name": "OX Cloud EU de-1", "timezone": "Europe/Berlin",
                        "services": services,
                        "lists": {"incident": [LIST], "informational": ["info@example.net"]}},
        },
    }  # fmt: skip


@dataclass
class ChannelWorld:
    config: Config
    metrics: Metrics = field(default_factory=Metrics)

    async def start(self) -> None:
        self.db = open_engine(self.config.database)
        await upgrade(self.db)
        self.engine = IncidentEngine(self.db, audiences(self.config))
        with secrets_in_env():
            transports = build_all(self.config.all_channels, 2.0)
        delivery = Delivery.of(
            self.config.smtp, lease=timedelta(minutes=1), backoff_base=timedelta(seconds=1),
            backoff_cap=timedelta(seconds=10), send_timeout=2.0, transports=transports,
        )  # fmt: skip
        self.sender = Sender(self.db, delivery, self.metrics, worker="test")

    async def close(self) -> None:
        await self.db.dispose()

    async def outage(self, service: str, started: datetime, detected: datetime) -> None:
        async with self.db.begin() as conn:
            await transitions.record(
                conn, "eu-de-1", service, "*", Opened(started, detected), detected
            )

    async def restored(self, service: str, started: datetime, restored: datetime) -> None:
        async with self.db.begin() as conn:
            event = Restored(started, restored, restored + timedelta(seconds=30))
            await transitions.record(conn, "eu-de-1", service, "*", event, restored)

    async def run(self, now: datetime) -> None:
        while await self.engine.step(now):
            pass
        while await self.sender.step(now):
            pass

    async def act(self, ref: str, action: Any, now: datetime) -> None:
        async with self.db.connect() as conn:
            stored = await store.by_ref(conn, ref)
        assert stored is not None and stored.incident.id is not None
        await self.engine.act(stored.incident.id, action, now)

    async def only_ref(self) -> str:
        async with self.db.connect() as conn:
            (incident,) = await store.listing(conn)
        return incident.ref


def load(data: dict[str, Any]) -> Config:
    return parse_config(data)
