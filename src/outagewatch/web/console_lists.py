"""What the console's home lists, read at the cost of what it shows: the incidents open now,
the last ten restored, the windows running, and the services bad but not (yet) in outage,
found from the series whose newest sample was bad (never every service's state)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from outagewatch.api.context import context
from outagewatch.config import Config
from outagewatch.incidents import store as store
from outagewatch.maintenance import store as maintenance_store
from outagewatch.states.facts import states_from
from outagewatch.store import samples as sample_store
from outagewatch.web.states import WORDS, ServiceState
from outagewatch.web.status_data import when

RESTORED = 10  # the latest restored incidents shown
BAD = 200  # bad services shown at most


class Labels:
    """``labels.get((platform, service), default)`` and ``names[platform]`` from the config,
    looked up when asked (not built for every service at every request)."""

    def __init__(self, config: Config) -> None:
        self.config = config

    def get(self, key: tuple[str, str], default: str) -> str:
        platform = self.config.platforms.get(key[0])
        service = platform.services.get(key[1]) if platform else None
        return service.display if service else default

    def __getitem__(self, platform: str) -> str:
        found = self.config.platforms.get(platform)
        return found.name if found else platform


async def home_data(request: web.Request) -> dict[str, Any]:
    ctx = context(request)
    now, config = ctx.clock(), ctx.config
    async with ctx.engine.connect() as conn:
        active = [*await store.listing(conn, "open"), *await store.listing(conn, "acknowledged")]
        restored = await store.listing_page(conn, "restored", RESTORED, None)
        windows = await maintenance_store.open_windows(conn)
        keys = [k for k in await sample_store.newest_bad(conn) if _known(config, k)]
        latest = await sample_store.latest_samples(conn, keys[:BAD])
    # Not acknowledged first (someone must act), then by start, oldest first.
    active.sort(key=lambda i: (i.state != "open", i.started_at))
    judged = ctx.states
    labels = Labels(config)
    bad = [
        ServiceState(s.platform, s.service, labels.get(s.key, s.service), WORDS[s.state], s.since)
        for s in states_from(config, judged, latest, active, windows, keys[:BAD], now)
        if WORDS[s.state] == "degraded"  # bad samples, no outage (yet), or degraded
    ]
    return {
        "active": active, "restored": restored, "windows": windows, "now": now, "bad": bad,
        "labels": labels, "names": labels, "since": _since(now), "when": _when(config),
    }  # fmt: skip


def _known(config: Config, key: tuple[str, str]) -> bool:
    return key[0] in config.platforms and key[1] in config.platforms[key[0]].services


def _when(config: Config) -> Callable[[Any, str], str]:
    return lambda moment, pid: when(moment, config.platforms[pid].zone)


def _since(now: datetime) -> Callable[[datetime], str]:
    """How long ago, as an engineer reads it at a glance: "7 min", "2 h 05 min"."""

    def since(moment: datetime) -> str:
        minutes = int((now - moment) / timedelta(minutes=1))
        return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"

    return since
