"""What the API's handlers reach: the database, the config, the incident engine, the read
model of service state (the leader's judgement; None where nothing judges), and the clock
(so that tests can hold time still).

``settings`` is the config, or where to read the current one (the daemon's runtime, which a
reload replaces): every request reads ``config`` anew."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.config import Config
from outagewatch.incidents.engine import IncidentEngine
from outagewatch.maintenance.engine import MaintenanceEngine
from outagewatch.states import ServiceStates


@dataclass(frozen=True)
class ApiContext:
    engine: AsyncEngine
    settings: Config | Callable[[], Config]
    incidents: IncidentEngine
    states: ServiceStates | None
    clock: Callable[[], datetime]
    maintenance: MaintenanceEngine | None = None

    @property
    def config(self) -> Config:
        return self.settings() if callable(self.settings) else self.settings


CONTEXT: web.AppKey[ApiContext] = web.AppKey("context", ApiContext)


def context(request: web.Request) -> ApiContext:
    return request.app[CONTEXT]
