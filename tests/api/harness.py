"""A real aiohttp server running the API over a migrated SQLite database, with a clock the
test holds, and one token per role."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.api.app import make_app
from outagewatch.api.context import ApiContext
from outagewatch.incidents.engine import IncidentEngine, audiences
from outagewatch.maintenance.engine import MaintenanceEngine
from outagewatch.metrics import Metrics
from outagewatch.store import tokens

from ..incidents.world import T0, config_for

ROLES = ("viewer", "oncall", "admin")


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@dataclass
class Api:
    client: TestClient  # type: ignore[type-arg]
    engine: AsyncEngine
    incidents: IncidentEngine
    clock: Clock
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def start_api(db: AsyncEngine, tmp_path: Path) -> Api:
    config = config_for(25, tmp_path / "unused.db")
    clock = Clock()
    engine = IncidentEngine(db, audiences(config))
    windows = MaintenanceEngine(db, config, engine.audiences)
    context = ApiContext(db, config, engine, None, clock, windows)
    app = make_app(Metrics(), ready=lambda: True, api=context)
    client = TestClient(TestServer(app))
    await client.start_server()
    api = Api(client, db, engine, clock)
    async with db.begin() as conn:
        for role in ROLES:
            token, _ = await tokens.create(conn, f"{role}-alice", role, T0)
            api.tokens[role] = token
    return api
