"""``check-config`` and reloads render every mail template with a sample incident and a sample
maintenance before the daemon may use them: a template that does not render is refused with
its file and line, never discovered when an outage is being announced."""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_FUNCTION_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_METHOD_ATTRIBUTES,
)

from outagewatch.incidents.decisions import Affected, Incident, PlatformInfo, ServiceInfo
from outagewatch.incidents.decisions import Notice as IncidentNotice
from outagewatch.maintenance.decisions import Maintenance
from outagewatch.maintenance.decisions import Notice as MaintenanceNotice
from outagewatch.notify.render import Audience, render, render_maintenance
from outagewatch.notify.templates import environment, shipped_names

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
# What Jinja's sandbox refuses besides names starting with "_" (jinja2/sandbox.py).
UNSAFE = frozenset().union(
    UNSAFE_FUNCTION_ATTRIBUTES, UNSAFE_METHOD_ATTRIBUTES, UNSAFE_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES, UNSAFE_ASYNC_GENERATOR_ATTRIBUTES, {"mro"},
)  # fmt: skip


def template_problems(templates_dir: Path | None) -> list[str]:
    """One ``templates_dir: FILE:LINE: message`` line per template that fails; [] when all
    render (also for the shipped set alone)."""
    return checked_templates(templates_dir)[1]


def checked_templates(templates_dir: Path | None) -> tuple[Environment | None, list[str]]:
    """The environment with the operator's overrides, every template in it compiled by
    rendering the samples, and the problems (the environment is for the daemon only when
    there are none; None stands for the shipped set)."""
    if templates_dir is None:
        return None, _render_samples(None)
    if not templates_dir.is_dir():
        return None, [f"templates_dir: {templates_dir} is not a directory"]
    known = shipped_names()
    stray = [
        p.name
        for p in sorted(templates_dir.glob("*.j2"))
        if p.name not in known and not p.name.startswith("_")
    ]
    if stray:
        return None, [
            f"templates_dir: {templates_dir / name}: not a template outagewatch uses"
            f" (it uses {', '.join(n for n in known if not n.startswith('_'))};"
            " partials for {% include %} start with _)"
            for name in stray
        ]
    templates = environment(templates_dir)
    reaching = _reaching_for_internals(templates, templates_dir)
    if reaching:
        return None, reaching
    return templates, _render_samples(templates)


def _unsafe(name: object) -> bool:
    return isinstance(name, str) and (name.startswith("_") or name in UNSAFE)


def _reaching_for_internals(templates: Environment, templates_dir: Path) -> list[str]:
    """Every place an override names a Python internal (``x.__class__``, ``x["_y"]``,
    ``x|attr("mro")``), also in a branch the samples do not take: the sandbox would refuse
    it when it runs, and a mail that fails then is a mail not sent."""
    problems: dict[tuple[Path, int], str] = {}  # one per line: the innermost name, found last
    for path in sorted(templates_dir.glob("*.j2")):
        try:
            tree = templates.parse(path.read_text(encoding="utf-8"), path.name, str(path))
        except (OSError, UnicodeDecodeError, TemplateSyntaxError):
            continue  # rendering the samples names it
        for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
            name: object = None
            if isinstance(node, nodes.Getattr):
                name = node.attr
            elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
                name = node.arg.value
            elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
                name = node.args[0].value if isinstance(node.args[0], nodes.Const) else None
            if _unsafe(name):
                problems[path, node.lineno] = (
                    f"templates_dir: {path}:{node.lineno}: reaches for {name!r}, a Python"
                    " internal that templates may not use (they see only the variables in"
                    " docs/TEMPLATES.md)"
                )
    return list(problems.values())


def _render_samples(templates: Environment | None) -> list[str]:
    problems: dict[str, str] = {}
    for render_sample in _samples(templates):
        try:
            render_sample()
        except (TemplateError, TypeError, ValueError, AttributeError, KeyError) as exc:
            where = _where(exc)
            problems.setdefault(where, f"templates_dir: {where}: {_message(exc)}")
    return list(problems.values())


def _where(exc: Exception) -> str:
    """The template file and line the error happened in."""
    if isinstance(exc, TemplateSyntaxError):
        return f"{exc.filename or exc.name}:{exc.lineno}"
    # Jinja2 rewrites tracebacks so that template frames carry the template's file and line.
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.endswith(".j2")]
    if frames:
        return f"{frames[-1].filename}:{frames[-1].lineno}"
    return "(unknown template)"


def _message(exc: Exception) -> str:
    text = exc.message if isinstance(exc, TemplateError) and exc.message else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _samples(templates: Environment | None) -> list[Callable[[], object]]:
    """Callables that render each template with each kind of notice it serves."""
    platform = PlatformInfo(
        id="eu-de-1",
        name="OX Cloud EU de-1 (sample)",
        services={"imap": ServiceInfo("IMAP", 2), "webmail": ServiceInfo("Web-Mail", 2)},
        update_every=timedelta(hours=1),
        oncall_repeat=timedelta(minutes=10),
    )
    audience = Audience(
        platform=platform,
        zone=ZoneInfo("Europe/Berlin"),
        incident_lists=("incidents@example.net",),
        protocols={"imap": "imap", "webmail": "http"},
        oncall_email="oncall@example.net",
        incident_pages="https://status.example.net/status/eu-de-1/incidents",
        domain="example.net",
        informational_lists=("announce@example.net",),
        templates=templates,
    )
    incident = Incident(
        ref="OW-20261123-0001",
        platform="eu-de-1",
        state="restored",
        origin="customer",
        severity=2,
        services=(
            Affected("imap", T0, T0 + timedelta(hours=2)),
            Affected("webmail", T0 + timedelta(minutes=5), unmonitored_at=T0 + timedelta(hours=1)),
        ),
        opened_at=T0 + timedelta(minutes=15),
        ticket="TICKET-1",
        user_impact="Users cannot read mail in their mail programs.",
        etr=T0 + timedelta(hours=3),
        restored_at=T0 + timedelta(hours=2),
        next_update_at=T0 + timedelta(hours=1, minutes=15),
        updates_sent=2,
        id=1,
    )
    window = Maintenance(
        ref="MW-20261126-0001",
        platform="eu-de-1",
        services=("imap",),
        kind="planned",
        state="finished",
        starts_at=T0 + timedelta(days=3),
        ends_at=T0 + timedelta(days=3, hours=2),
        expected_impact="IMAP logins may fail for up to 5 minutes.",
        announced_at=T0,
        announced_by="alice",
        successful=True,
        outcome_note="Done.",
        finished_at=T0 + timedelta(days=3, hours=2),
        finished_by="alice",
        id=1,
    )
    incident_notices = [
        IncidentNotice("detected"),
        IncidentNotice("update", ("IMAP has recovered.",), "We replaced a disk."),
        IncidentNotice("update"),
        IncidentNotice("restored", message="The cause was a failed disk."),
        IncidentNotice("oncall"),
        IncidentNotice("oncall_repeat"),
    ]
    maintenance_notices = [
        MaintenanceNotice(kind, note="A note.")
        for kind in ("announced", "started", "finished", "extended", "cancelled", "auto_finished")
    ]
    # Both origins and both kinds of window: the templates branch on them.
    detected = replace(incident, origin="detected", state="open", ticket=None, etr=None)
    emergency = replace(window, kind="emergency", successful=False, outcome_note=None)
    samples: list[Callable[[], object]] = []
    for case in (incident, detected):
        samples += [partial(render, case, n, audience, 1) for n in incident_notices]
    for case_window in (window, emergency):
        samples += [partial(render_maintenance, case_window, n, audience, 1)
                    for n in maintenance_notices]  # fmt: skip
    return samples
