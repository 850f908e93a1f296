"""The stored facts the read model joins with the judgement, read for the services asked of.

Every instance can read these (the latest sample of each vantage, the open incidents, the
running maintenance windows); only the leader has a judgement. ``states_from`` is the join,
``current_states`` reads what it needs for a page of services and joins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.config import Config
from outagewatch.incidents import store as incident_store
from outagewatch.incidents.decisions import Incident
from outagewatch.maintenance import store as maintenance_store
from outagewatch.maintenance.decisions import Maintenance
from outagewatch.states.read_model import Key, Latest, ServiceState, ServiceStates, state_of
from outagewatch.store import samples as sample_store

LatestSamples = Mapping[tuple[str, str, str], Mapping[str, Any]]
RUNNING = ("scheduled", "in_progress")


def states_from(
    config: Config,
    judged: ServiceStates | None,
    latest: LatestSamples,
    active: Sequence[Incident],
    windows: Sequence[Maintenance],
    keys: Sequence[Key],
    now: datetime,
) -> list[ServiceState]:
    """The state of each service of ``keys``, in that order."""
    down = {(i.platform, s) for i in active for s in i.down}
    running = {
        (w.platform, s) for w in windows if w.starts_at <= now < w.ends_at and w.state in RUNNING
        for s in w.services
    }  # fmt: skip
    stored: dict[Key, dict[str, Latest]] = {}
    for (pid, sid, vantage), sample in latest.items():
        stored.setdefault((pid, sid), {})[vantage] = Latest(sample["started_at"], sample["bad"])
    found = []
    for key in keys:
        rules = config.rules_for(*key)
        found.append(
            state_of(
                key,
                judged.judgement(key) if judged is not None else None,
                stored.get(key, {}),
                reported_down=key in down,
                in_maintenance=key in running,
                now=now,
                recent=rules.max_gap + rules.lateness,
            )
        )
    return found


async def current_states(
    conn: AsyncConnection,
    config: Config,
    judged: ServiceStates | None,
    keys: Sequence[Key],
    now: datetime,
) -> tuple[list[ServiceState], LatestSamples]:
    """The states of ``keys`` and the latest samples read for them."""
    latest = await sample_store.latest_samples(conn, keys)
    active = [
        *await incident_store.listing(conn, "open"),
        *await incident_store.listing(conn, "acknowledged"),
    ]
    windows = await maintenance_store.open_windows(conn)
    return states_from(config, judged, latest, active, windows, keys, now), latest
