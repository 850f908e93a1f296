"""The status page's feeds: Atom (one entry per incident, per maintenance window and per
degraded period, updated as its mails go out) and the public maintenance calendar
(iCalendar). Both say nothing the page does not: the entry content is the customer mails as
sent."""

from __future__ import annotations

from feedgen.feed import FeedGenerator
from icalendar import Calendar, Event

from outagewatch.maintenance.decisions import Maintenance
from outagewatch.web.status_data import IncidentView, PlatformView


def _maintenance_title(window: Maintenance, labels: dict[str, str]) -> str:
    what = "Emergency maintenance" if window.kind == "emergency" else "Maintenance"
    return f"{what}: {', '.join(labels.get(s, s) for s in window.services)}"


def _maintenance_text(view: PlatformView, window: Maintenance) -> str:
    lines = [
        f"Window: {view.when(window.starts_at)} until {view.when(window.ends_at)}",
        f"Expected impact: {window.expected_impact}",
        f"State: {window.state.replace('_', ' ')}",
    ]
    if window.state == "finished":
        lines.append(f"Outcome: {'successful' if window.successful else 'not successful'}")
    return "\n".join(lines)


def _incident_text(item: IncidentView) -> str:
    if not item.mails:
        return "We are working on it; the first mail to the incident list is on its way."
    return "\n\n".join(f"--- {m.subject} ---\n{m.body}" for m in item.mails)


def atom(view: PlatformView, base: str) -> bytes:
    """``base`` is the absolute URL of the platform's status page."""
    labels = {s.id: s.label for s in view.services}
    feed = FeedGenerator()
    feed.id(base)
    feed.title(f"{view.name} status")
    feed.link(href=base, rel="alternate")
    feed.link(href=f"{base}/feed.atom", rel="self")
    feed.language("en")
    for item in view.open_incidents + view.past_incidents:
        ref = item.incident.ref
        entry = feed.add_entry(order="append")
        entry.id(f"{base}/incidents/{ref}")
        entry.title(f"[{item.incident.state}] {item.title} ({ref})")
        entry.link(href=f"{base}/incidents/{ref}")
        entry.published(item.incident.opened_at)
        entry.updated(item.updated_at)
        entry.content(_incident_text(item), type="text")
    for sid, periods in sorted(view.degradations.items()):
        for start, end in periods:
            stamp = f"{start:%Y%m%dT%H%M%SZ}"
            entry = feed.add_entry(order="append")
            entry.id(f"{base}/degraded/{sid}/{stamp}")
            state = "degraded" if end is None else "over"
            entry.title(f"[{state}] Degraded performance: {labels.get(sid, sid)}")
            entry.link(href=base)
            entry.published(start)
            entry.updated(end or start)
            until = "ongoing" if end is None else f"until {view.when(end)}"
            text = f"Degraded performance from {view.when(start)}, {until}. This is not an"
            entry.content(f"{text} outage: the service answers, slower than usual.", type="text")
    for window in view.history:
        entry = feed.add_entry(order="append")
        entry.id(f"{base}/maintenance/{window.ref}")
        entry.title(f"[{window.state.replace('_', ' ')}] {_maintenance_title(window, labels)}")
        entry.link(href=f"{base}#maintenance")
        entry.published(window.announced_at)
        entry.updated(window.finished_at or window.announced_at)
        entry.content(_maintenance_text(view, window), type="text")
    # The feed's own date is its newest entry's, so an unchanged feed keeps its ETag.
    newest = [item.updated_at for item in view.open_incidents + view.past_incidents]
    newest += [w.finished_at or w.announced_at for w in view.history]
    midnight = view.now.replace(hour=0, minute=0, second=0, microsecond=0)
    feed.updated(max(newest) if newest else midnight)
    body: bytes = feed.atom_str(pretty=True)
    return body


def calendar(view: PlatformView, base: str, domain: str) -> bytes:
    labels = {s.id: s.label for s in view.services}
    cal = Calendar()
    cal.add("prodid", "-//outagewatch//maintenance//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{view.name} maintenance")
    for window in sorted(view.history, key=lambda w: w.starts_at):
        event = Event()
        event.add("uid", f"{window.ref}@{domain}")
        # DTSTAMP: when this version of the event was made, so unchanged windows stay
        # byte-identical between requests (ETag).
        event.add("dtstamp", window.finished_at or window.announced_at)
        event.add("dtstart", window.starts_at)
        event.add("dtend", window.ends_at)
        event.add("summary", f"{view.name}: {_maintenance_title(window, labels)}")
        event.add("description", _maintenance_text(view, window))
        event.add("url", f"{base}#maintenance")
        event.add("status", "CANCELLED" if window.state == "cancelled" else "CONFIRMED")
        cal.add_component(event)
    body: bytes = cal.to_ical()
    return body
