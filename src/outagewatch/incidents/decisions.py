"""Incident lifecycle and what to tell whom (DESIGN section 4), as pure decisions.

Every function takes the incident as it stands, the input (a service transition, an
engineer's action, or only the passing of time) and ``now``, and returns an ``IncidentDecision``:
the incident as it must be stored, the notices to enqueue and the timeline entries. The
engine (incidents/engine.py) stores all three in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from outagewatch.incidents.model import (
    ACTIVE as ACTIVE,
)
from outagewatch.incidents.model import (
    Affected as Affected,
)
from outagewatch.incidents.model import (
    Incident as Incident,
)
from outagewatch.incidents.model import (
    IncidentConflict as IncidentConflict,
)
from outagewatch.incidents.model import (
    IncidentDecision as IncidentDecision,
)
from outagewatch.incidents.model import (
    IncidentError as IncidentError,
)
from outagewatch.incidents.model import (
    IncidentState as IncidentState,
)
from outagewatch.incidents.model import (
    Notice as Notice,
)
from outagewatch.incidents.model import (
    NoticeKind as NoticeKind,
)
from outagewatch.incidents.model import (
    PlatformInfo as PlatformInfo,
)
from outagewatch.incidents.model import (
    ServiceInfo as ServiceInfo,
)


def derived_severity(platform: PlatformInfo, down: tuple[str, ...]) -> int:
    """Sev 1 when every monitored service is down, else the worst configured severity."""
    if not down:
        return 4
    if set(platform.services) <= set(down):
        return 1
    return min(platform.services[s].severity for s in down if s in platform.services)


def _customer_mail(incident: Incident, platform: PlatformInfo, now: datetime) -> Incident:
    """Every customer mail restarts the cadence (an update is due ``update_every`` later)."""
    due = now + incident.cadence(platform) if incident.state in ACTIVE else None
    return replace(incident, last_customer_mail_at=now, next_update_at=due)


def _rederive(incident: Incident, platform: PlatformInfo) -> tuple[Incident, tuple[str, ...]]:
    if incident.severity_overridden or incident.state not in ACTIVE:
        return incident, ()
    severity = derived_severity(platform, incident.down)
    if severity == incident.severity:
        return incident, ()
    change = f"Severity changed from {incident.severity} to {severity}."
    return replace(incident, severity=severity), (change,)


def open_for_outage(
    platform: PlatformInfo, service: str, started_at: datetime, ref: str, now: datetime
) -> IncidentDecision:
    affected = (Affected(service, started_at),)
    incident = Incident(
        ref=ref,
        platform=platform.id,
        state="open",
        origin="detected",
        severity=derived_severity(platform, (service,)),
        services=affected,
        opened_at=now,
        oncall_next_at=now + platform.oncall_repeat,
    )
    incident = _customer_mail(incident, platform, now)
    return IncidentDecision(
        incident,
        (Notice("detected"), Notice("oncall")),
        (("opened", "outagewatch", {"service": service, "started_at": started_at.isoformat()}),),
    )


def open_reported(
    platform: PlatformInfo,
    services: tuple[str, ...],
    *,
    ticket: str,
    ref: str,
    actor: str,
    now: datetime,
    user_impact: str | None = None,
    etr: datetime | None = None,
    severity: int | None = None,
) -> IncidentDecision:
    """A customer reported an outage through the ticket process: the same communication."""
    unknown = [s for s in services if s not in platform.services]
    if unknown or not services:
        raise IncidentError(f"unknown services for {platform.id}: {', '.join(unknown) or '(none)'}")
    _check_etr(etr, now)
    incident = Incident(
        ref=ref,
        platform=platform.id,
        state="open",
        origin="customer",
        severity=severity or derived_severity(platform, services),
        severity_overridden=severity is not None,
        services=tuple(Affected(s, now, reported=True) for s in services),
        opened_at=now,
        ticket=ticket,
        user_impact=user_impact,
        etr=etr,
        oncall_next_at=now + platform.oncall_repeat,
    )
    incident = _customer_mail(incident, platform, now)
    detail = {"ticket": ticket, "services": ", ".join(services)}
    return IncidentDecision(
        incident, (Notice("detected"), Notice("oncall")), (("opened", actor, detail),)
    )


def outage_joins(
    incident: Incident, platform: PlatformInfo, service: str, started_at: datetime, now: datetime
) -> IncidentDecision:
    """Another service of the platform is in outage while the incident is open."""
    label = platform.services[service].label if service in platform.services else service
    current = {a.service: a for a in incident.services}
    if service in current and current[service].restored_at is None:
        return IncidentDecision(incident)  # already down in this incident: nothing new to say
    if service in current:
        services = tuple(
            replace(a, restored_at=None) if a.service == service else a for a in incident.services
        )
        change = f"{label} is unavailable again."
    else:
        services = (*incident.services, Affected(service, started_at))
        change = f"{label} is now affected as well (since {started_at:%H:%M} UTC)."
    joined, severity_change = _rederive(replace(incident, services=services), platform)
    joined = _customer_mail(replace(joined, updates_sent=joined.updates_sent + 1), platform, now)
    notice = Notice("update", (change, *severity_change))
    return IncidentDecision(joined, (notice,), (("joined", "outagewatch", {"service": service}),))


def service_restored(
    incident: Incident, platform: PlatformInfo, service: str, restored_at: datetime, now: datetime
) -> IncidentDecision:
    current = {a.service: a for a in incident.services}
    if service not in current or current[service].restored_at is not None:
        return IncidentDecision(incident)
    services = tuple(
        replace(a, restored_at=restored_at) if a.service == service else a
        for a in incident.services
    )
    incident = replace(incident, services=services)
    timeline = (("service_restored", "outagewatch", {"service": service}),)
    if incident.down:
        label = platform.services[service].label if service in platform.services else service
        incident, severity_change = _rederive(incident, platform)
        incident = replace(incident, updates_sent=incident.updates_sent + 1)
        incident = _customer_mail(incident, platform, now)
        notice = Notice(
            "update", (f"{label} has recovered (at {restored_at:%H:%M} UTC).", *severity_change)
        )
        return IncidentDecision(incident, (notice,), timeline)
    return _restore(incident, platform, restored_at, now, "outagewatch", timeline)


def _restore(
    incident: Incident,
    platform: PlatformInfo,
    restored_at: datetime,
    now: datetime,
    actor: str,
    timeline: tuple[tuple[str, str, dict[str, str]], ...],
    note: str | None = None,
) -> IncidentDecision:
    incident = replace(incident, state="restored", restored_at=restored_at, oncall_next_at=None)
    incident = _customer_mail(incident, platform, now)
    entry = ("restored", actor, {"restored_at": restored_at.isoformat(), **_note(note)})
    return IncidentDecision(incident, (Notice("restored", message=note),), (*timeline, entry))


def services_unmonitored(
    incident: Incident, platform: PlatformInfo, services: Mapping[str, str], now: datetime
) -> IncidentDecision:
    """Services taken out of the config while down: the incident stops following them and
    says so. Their outage did not end as far as anyone measured, so this is no recovery: no
    "restored" mail. With nothing left down the incident is closed, with that reason.
    ``services`` maps each dropped service to its label (the config no longer has it)."""
    dropped = [s for s in services if s in incident.down]
    if not dropped:
        return IncidentDecision(incident)
    marked = replace(
        incident,
        services=tuple(
            replace(a, unmonitored_at=now) if a.service in dropped else a for a in incident.services
        ),
    )
    labels = ", ".join(services[s] for s in dropped)
    changes: tuple[str, ...] = (
        f"{labels} {'is' if len(dropped) == 1 else 'are'} no longer monitored by us; this "
        "incident no longer follows it, and its recovery has not been confirmed.",
    )
    updated = replace(marked, updates_sent=incident.updates_sent + 1)
    timeline = (("unmonitored", "outagewatch", {"services": ", ".join(dropped)}),)
    if updated.down:
        updated, severity_change = _rederive(updated, platform)
        updated = _customer_mail(updated, platform, now)
        return IncidentDecision(
            updated, (Notice("update", (*changes, *severity_change)),), timeline
        )
    closed = replace(
        updated,
        state="closed",
        closed_at=now,
        oncall_next_at=None,
        last_customer_mail_at=now,
        next_update_at=None,
    )
    changes = (*changes, "No monitored service is affected any more: this incident is closed.")
    entry = ("closed", "outagewatch", {"note": "no longer monitored"})
    return IncidentDecision(closed, (Notice("update", changes),), (*timeline, entry))


def acknowledge(
    incident: Incident, actor: str, now: datetime, note: str | None = None
) -> IncidentDecision:
    """Stops the on-call repeats, never the customer updates."""
    if incident.state != "open":
        raise IncidentConflict(
            f"incident {incident.ref} is {incident.state}; only an open one can be acknowledged"
        )
    acked = replace(
        incident,
        state="acknowledged",
        acknowledged_at=now,
        acknowledged_by=actor,
        oncall_next_at=None,
    )
    return IncidentDecision(
        acked, (), (("acknowledged", actor, _note(note)),), withdrawn=("oncall_repeat",)
    )


def post_update(
    incident: Incident,
    platform: PlatformInfo,
    actor: str,
    now: datetime,
    *,
    message: str | None = None,
    user_impact: str | None = None,
    etr: datetime | None = None,
    update_every: timedelta | None = None,
    severity: int | None = None,
) -> IncidentDecision:
    """An engineer's message or a change of impact, ETR or severity goes out at once and
    restarts the cadence; a new ``update_every`` only changes the cadence."""
    if incident.state == "closed":
        raise IncidentConflict(f"incident {incident.ref} is closed")
    _check_etr(etr, now)
    if update_every is not None and update_every < timedelta(minutes=1):
        raise IncidentError("update_every must be at least 1m")
    changes: list[str] = []
    updated = incident
    if user_impact is not None and user_impact != incident.user_impact:
        updated = replace(updated, user_impact=user_impact)
        changes.append(f"The user impact has been re-assessed: {user_impact}")
    if etr is not None and etr != incident.etr:
        updated = replace(updated, etr=etr)
        changes.append(f"The expected time to restoration is now {etr:%Y-%m-%d %H:%M} UTC.")
    if severity is not None and severity != incident.severity:
        updated = replace(updated, severity=severity, severity_overridden=True)
        changes.append(f"Severity changed from {incident.severity} to {severity}.")
    if update_every is not None:
        updated = replace(updated, update_every=update_every)
    detail = {
        k: str(v)
        for k, v in (
            ("message", message),
            ("user_impact", user_impact),
            ("etr", etr),
            ("update_every", update_every),
            ("severity", severity),
        )
        if v is not None
    }
    timeline = (("update", actor, detail),)
    if message is None and not changes:
        if updated.next_update_at is not None and updated.last_customer_mail_at is not None:
            updated = replace(
                updated, next_update_at=updated.last_customer_mail_at + updated.cadence(platform)
            )
        return IncidentDecision(updated, (), timeline)
    updated = replace(updated, updates_sent=updated.updates_sent + 1)
    updated = _customer_mail(updated, platform, now)
    return IncidentDecision(updated, (Notice("update", tuple(changes), message),), timeline)


def restore_by_hand(
    incident: Incident, platform: PlatformInfo, actor: str, now: datetime, note: str | None = None
) -> IncidentDecision:
    if incident.state not in ACTIVE:
        raise IncidentConflict(f"incident {incident.ref} is {incident.state} already")
    services = tuple(a if a.restored_at else replace(a, restored_at=now) for a in incident.services)
    return _restore(replace(incident, services=services), platform, now, now, actor, (), note)


def close(
    incident: Incident, actor: str, now: datetime, note: str | None = None
) -> IncidentDecision:
    if incident.state != "restored":
        raise IncidentConflict(
            f"incident {incident.ref} is {incident.state}; restore it before closing it"
        )
    closed = replace(incident, state="closed", closed_at=now, next_update_at=None)
    return IncidentDecision(closed, (), (("closed", actor, _note(note)),))


def due(incident: Incident, platform: PlatformInfo, now: datetime) -> IncidentDecision:
    """What time alone makes due: the hourly update, the on-call reminder. After a downtime
    an overdue update goes out once, late: the next one is due a cadence after it."""
    notices: list[Notice] = []
    updated = incident
    if (
        incident.state in ACTIVE
        and incident.next_update_at is not None
        and incident.next_update_at <= now
    ):
        updated = _customer_mail(
            replace(updated, updates_sent=updated.updates_sent + 1), platform, now
        )
        notices.append(Notice("update"))
    if (
        incident.state == "open"
        and incident.oncall_next_at is not None
        and incident.oncall_next_at <= now
    ):
        updated = replace(updated, oncall_next_at=now + platform.oncall_repeat)
        notices.append(Notice("oncall_repeat"))
    return IncidentDecision(updated, tuple(notices))


def rewrite_waiting_update(
    incident: Incident, platform: PlatformInfo, now: datetime
) -> IncidentDecision:
    """The relay answers again while an update still waits: it was written when it could
    not be sent. Write it anew (the outbox carries its news on and it keeps its number), so
    that the list reads the facts and the next update's time as of now, and the cadence
    counts from the mail the list receives."""
    if incident.state not in ACTIVE:
        return IncidentDecision(incident)
    rewritten = replace(incident, updates_sent=incident.updates_sent + 1)
    return IncidentDecision(_customer_mail(rewritten, platform, now), (Notice("update"),))


def next_due(incident: Incident) -> datetime | None:
    """When ``due`` will next have something to do (None: nothing until something happens)."""
    times = [t for t in (incident.next_update_at, incident.oncall_next_at) if t is not None]
    return min(times) if incident.state in ACTIVE and times else None


def _check_etr(etr: datetime | None, now: datetime) -> None:
    if etr is not None and etr < now:
        raise IncidentError("etr is in the past")


def _note(note: str | None) -> dict[str, str]:
    return {"note": note} if note else {}
