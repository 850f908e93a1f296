"""Estates of many services, each measured once, behind the real app: what the read model,
the API's pages and the public pages are measured on at thousands of services."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.api.context import ApiContext
from outagewatch.config import Config, parse_config
from outagewatch.config.targets import targets_of
from outagewatch.daemon.http import make_app
from outagewatch.detection.export import DetectionExport
from outagewatch.detection.sample_writer import SampleWriter
from outagewatch.incidents.engine import IncidentEngine, audiences
from outagewatch.maintenance.engine import MaintenanceEngine
from outagewatch.metrics import Metrics
from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.states import ServiceStates, facts
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
SERVICES = ("imap", "smtp", "pop3", "webmail")


def estate(platforms: int, db: Path, per_platform: int = 4) -> Config:
    names = SERVICES if per_platform == 4 else [f"s{n:04d}" for n in range(per_platform)]
    services = {
        n: {"protocol": "imap", "host": "127.0.0.1", "port": 9, "label": f"Mailbox {n}"}
        for n in names
    }
    return parse_config({
        "vantage": "fra",
        "database": f"sqlite+aiosqlite:///{db}",
        "web": {"status_page": True, "public_url": "https://status.example.net"},
        "platforms": {
            f"p{i:04d}": {"name": f"Platform {i}", "services": services,
                          "lists": {"incident": ["i@example.net"],
                                    "informational": ["n@example.net"]}}
            for i in range(platforms)
        },
    })  # fmt: skip


@dataclass
class Served:
    client: TestClient  # type: ignore[type-arg]
    engine: AsyncEngine
    states: ServiceStates


@dataclass
class Estates:
    """Starts apps over estates in ``folder``; ``close`` stops every one started."""

    folder: Path
    started: list[Served] = field(default_factory=list)

    async def start(self, platforms: int, per_platform: int = 4) -> Served:
        db = self.folder / f"ow-{platforms}-{per_platform}.db"
        engine = open_engine(f"sqlite+aiosqlite:///{db}")
        await upgrade(engine)
        config = estate(platforms, db, per_platform)
        targets = targets_of(config)
        samples = SampleWriter(engine, targets, "fra", DetectionExport(Metrics(), "fra"))
        for n, target in enumerate(targets):  # every service measured once
            ok = n % 7 != 0
            result = ProbeResult(T0, 0.02, ok, None if ok else ErrorKind.REFUSED, {}, "")
            samples.accept(target, result)
        while await samples.step():
            pass
        states = ServiceStates()  # as the detector keeps it: every service monitored
        states.monitor(t.key for t in targets)
        incidents = IncidentEngine(engine, audiences(config))
        windows = MaintenanceEngine(engine, config, incidents.audiences)
        context = ApiContext(engine, config, incidents, states, lambda: T0, windows)
        client = TestClient(TestServer(make_app(Metrics(), ready=lambda: True, api=context)))
        await client.start_server()
        self.started.append(Served(client, engine, states))
        return self.started[-1]

    async def close(self) -> None:
        for served in self.started:
            await served.client.close()
            await served.engine.dispose()


@contextmanager
def counting(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Counter[str]]:
    """Counts the SQL statements run, the services whose state is derived, and the latest
    samples read."""
    counts: Counter[str] = Counter()

    def statement(*_: object) -> None:
        counts["statements"] += 1

    derive, latest = facts.state_of, facts.sample_store.latest_samples

    def counted_state_of(*args: Any, **kwargs: Any) -> Any:
        counts["states"] += 1
        return derive(*args, **kwargs)

    async def counted_latest(*args: Any, **kwargs: Any) -> Any:
        found = await latest(*args, **kwargs)
        counts["samples"] += len(found)
        return found

    monkeypatch.setattr(facts, "state_of", counted_state_of)
    monkeypatch.setattr(facts.sample_store, "latest_samples", counted_latest)
    event.listen(engine.sync_engine, "before_cursor_execute", statement)
    try:
        yield counts
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", statement)
