"""The terminal client (``outagewatch incidents …``, ``services``, ``maintenance …``): a thin
client of the HTTP API.

It holds no logic of its own beyond input checks that save a round trip; what an action
means is decided by the API. Exit codes: 0 ok, 1 the API refused (4xx/5xx, its problem's
title and detail printed), 2 bad input or the API cannot be reached.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
from yarl import URL

from outagewatch.durations import parse_duration

DEFAULT_URL = "http://127.0.0.1:8080"
STATES = ("open", "acknowledged", "restored", "closed")
SERVICE_STATES = ("ok", "bad", "degraded", "outage", "maintenance", "unknown")
TIMEOUT = 30.0
EXIT_OK, EXIT_REFUSED, EXIT_INPUT = 0, 1, 2
_KEY = re.compile(r"\d+|[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # an id or a ref (OW-20261123-0007)

Json = dict[str, Any]


class ApiError(Exception):
    """The API answered with a 4xx or 5xx: its problem document, or what stands for it."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(f"{status} {title}: {detail}")
        self.status, self.title, self.detail = status, title, detail


PAGE = 1000  # items asked per page of a list (the API's most)


class Unreachable(Exception):
    pass


class Client:
    def __init__(self, session: aiohttp.ClientSession, url: URL, token: str | None) -> None:
        self.session, self.url = session, url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def list_incidents(self, state: str | None = None) -> list[Json]:
        return await self._every("/api/v1/incidents", {"state": state})

    async def incident(self, key: str) -> Json:
        return await self._call("GET", f"/api/v1/incidents/{key}")

    async def ack(self, key: str, note: str | None = None) -> Json:
        body = {"note": note} if note is not None else {}
        return await self._call("POST", f"/api/v1/incidents/{key}/ack", body=body)

    async def update(self, key: str, body: Json) -> Json:
        return await self._call("POST", f"/api/v1/incidents/{key}/updates", body=body)

    async def list_maintenances(self, state: str | None, platform: str | None) -> list[Json]:
        return await self._every("/api/v1/maintenances", {"state": state, "platform": platform})

    async def list_services(self) -> list[Json]:
        """Every service with its state, in (platform, service) order."""
        return await self._every("/api/v1/services", {})

    async def _every(self, path: str, params: dict[str, str | None]) -> list[Json]:
        """Every item of a paged list: the pages of 1,000, following ``next_cursor``."""
        items: list[Json] = []
        cursor: str | None = None
        while True:
            paged = {**params, "limit": str(PAGE), "cursor": cursor}
            answer = await self._call("GET", path, params=paged)
            items += answer["items"]
            cursor = answer.get("next_cursor")
            if not cursor:
                return items

    async def create_maintenance(self, body: Json) -> Json:
        return await self._call("POST", "/api/v1/maintenances", body=body)

    async def finish_maintenance(self, key: str, body: Json) -> Json:
        return await self._call("POST", f"/api/v1/maintenances/{key}/finish", body=body)

    async def _call(
        self, method: str, path: str, params: dict[str, str | None] | None = None, body: Any = None
    ) -> Json:
        target = self.url.with_path(self.url.path.rstrip("/") + path)
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            # No redirects: following one could hand the token to another host.
            async with self.session.request(
                method, target, params=query, json=body, headers=self.headers,
                allow_redirects=False,
            ) as response:  # fmt: skip
                text = await response.text()
                status, reason = response.status, response.reason or ""
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = str(exc) or f"no answer within {TIMEOUT:g}s"
            raise Unreachable(f"cannot reach the API at {self.url}: {reason}") from None
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = None
        if status >= 300:
            if isinstance(data, dict) and "title" in data:
                raise ApiError(status, str(data["title"]), str(data.get("detail", "")))
            raise ApiError(status, reason or "Error", text.strip()[:200] or "(no body)")
        if not isinstance(data, dict):
            raise ApiError(
                status, "Unexpected answer", f"{method} {path} did not answer a JSON object"
            )
        return data


def check_url(url: str) -> URL | str:
    """The parsed URL, or a one-line reason why it is not usable."""
    try:
        parsed = URL(url)
    except ValueError:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        return f"--url: {url!r} is not an http:// or https:// URL (e.g. {DEFAULT_URL})"
    return parsed


def check_key(key: str) -> str | None:
    if _KEY.fullmatch(key):
        return None
    return f"{key!r}: name an incident by its id (7) or its ref (OW-20261123-0007)"


def update_body(
    message: str | None,
    impact: str | None,
    etr: str | None,
    every: str | None,
    severity: str | None,
) -> tuple[Json, list[str]]:
    """The body of ``POST …/updates`` and the problems with the input (empty when none)."""
    body: Json = {}
    problems: list[str] = []
    if message is not None:
        body["message"] = message
    if impact is not None:
        body["user_impact"] = impact
    if etr is not None:
        try:
            moment = datetime.fromisoformat(etr)
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            problems.append(f"--etr: {etr!r} must be RFC 3339 with a zone, e.g. 2026-11-23T14:00Z")
        else:
            body["etr"] = moment.isoformat()
    if every is not None:
        try:
            parse_duration(every)
            body["update_every"] = every
        except ValueError as exc:
            problems.append(f"--every: {exc}")
    if severity is not None:
        if severity.isdigit() and 1 <= int(severity) <= 4:
            body["severity"] = int(severity)
        else:
            problems.append(f"--severity: {severity!r} must be a number from 1 (worst) to 4")
    if not body and not problems:
        problems.append("nothing to update: give --message, --impact, --etr, --every or --severity")
    return body, problems


def run(url: str, token: str | None, action: Callable[[Client], Awaitable[str]]) -> int:
    """Run one action against the API, print its output, and return the exit code."""
    parsed = check_url(url)
    if isinstance(parsed, str):
        print(parsed, file=sys.stderr)
        return EXIT_INPUT

    async def go() -> str:
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            return await action(Client(session, parsed, token))

    try:
        print(asyncio.run(go()))
    except Unreachable as exc:
        print(exc, file=sys.stderr)
        return EXIT_INPUT
    except ApiError as exc:
        print(f"{exc.status} {exc.title}: {exc.detail}", file=sys.stderr)
        if exc.status == 401 and not token:
            print("hint: set OUTAGEWATCH_TOKEN (see 'outagewatch token create')", file=sys.stderr)
        return EXIT_REFUSED
    return EXIT_OK


def when(value: Any, *, seconds: bool = False) -> str:
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(str(value)).astimezone(UTC)
    except ValueError:
        return str(value)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ" if seconds else "%Y-%m-%d %H:%MZ")


def _columns(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    """Rows of cells, each column padded to its widest cell."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        (indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))).rstrip()
        for row in rows
    ]


def render_list(items: list[Json], state: str | None = None) -> str:
    if not items:
        return f"no {state} incidents" if state else "no incidents"
    rows = [
        [
            str(i["id"]),
            i["ref"],
            i["platform"],
            i["state"],
            str(i["severity"]),
            ", ".join(s["service"] for s in i["services"]),
            when(i["opened_at"]),
            when(i.get("next_update_at")),
            i.get("acknowledged_by") or "-",
        ]
        for i in items
    ]
    header = ["ID", "REF", "PLATFORM", "STATE", "SEV", "SERVICES", "OPENED", "NEXT UPDATE"]
    return "\n".join(_columns([[*header, "ACK BY"], *rows]))


def render_services(items: list[Json], platform: str | None, state: str | None) -> str:
    """The services of ``platform`` in ``state`` (each when given), one row each."""
    chosen = [s for s in items if platform in (None, s["platform"]) and state in (None, s["state"])]
    if not chosen:
        where = f" on {platform}" if platform else ""
        return f"no {state} services{where}" if state else f"no services{where}"
    rows = []
    for s in chosen:
        vantages = s.get("vantages") or {}
        starts = [
            datetime.fromisoformat(v["bad_since"]) for v in vantages.values() if v["bad_since"]
        ]
        seen = ", ".join(f"{name} {v['state']}" for name, v in sorted(vantages.items()))
        row = [s["platform"], s["service"], s["protocol"], s["state"], str(s["severity"])]
        rows.append([*row, when(min(starts, default=None)), seen or "-"])
    header = ["PLATFORM", "SERVICE", "PROTOCOL", "STATE", "SEV", "BAD SINCE", "VANTAGES"]
    return "\n".join(_columns([header, *rows]))


def _detail(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {v}" for k, v in detail.items())
    return "" if detail is None else str(detail)


def render_incident(incident: Json) -> str:
    lines = [
        f"{incident['ref']} (id {incident['id']})  {incident['platform']}  {incident['state']}"
        f"  severity {incident['severity']}",
    ]
    services = _columns(
        [
            [s["service"], f"since {when(s['started_at'])}"
             + (f", restored {when(s['restored_at'])}" if s.get("restored_at") else "")]
            for s in incident["services"]
        ]
    )  # fmt: skip
    lines += [f"{'services' if n == 0 else '':<14}{line}" for n, line in enumerate(services)]
    facts = [
        ("opened", when(incident["opened_at"])),
        ("ticket", incident.get("ticket")),
        ("user impact", incident.get("user_impact")),
        ("etr", incident.get("etr") and when(incident["etr"])),
        ("update every", incident.get("update_every")),
        ("next update", incident.get("next_update_at") and when(incident["next_update_at"])),
        ("acknowledged", incident.get("acknowledged_by")),
        ("restored", incident.get("restored_at") and when(incident["restored_at"])),
        ("closed", incident.get("closed_at") and when(incident["closed_at"])),
    ]
    lines += [f"{name:<14}{value}" for name, value in facts if value]
    timeline = [
        [when(e["at"], seconds=True), e["actor"], e["kind"], _detail(e.get("detail"))]
        for e in incident.get("timeline") or []
    ]
    lines.append("timeline" if timeline else "timeline      (empty)")
    lines += _columns(timeline, indent="  ")
    mails = [
        [when(m.get("created_at"), seconds=True), m.get("kind", "?"), m.get("audience", "?"),
         m.get("state", "?"), m.get("subject", "")]
        for m in incident.get("notifications") or []
    ]  # fmt: skip
    lines.append("notifications" if mails else "notifications (none)")
    lines += _columns(mails, indent="  ")
    return "\n".join(lines)


def render_changed(incident: Json) -> str:
    """One line after ack or update: where the incident stands now."""
    line = f"{incident['ref']} (id {incident['id']}): {incident['state']}"
    line += f", severity {incident['severity']}"
    if incident.get("acknowledged_by"):
        line += f", acknowledged by {incident['acknowledged_by']}"
    if incident.get("next_update_at"):
        line += f", next update {when(incident['next_update_at'])}"
    return line


def maintenance_body(
    platform: str,
    services: list[str] | None,
    kind: str,
    start: str,
    end: str,
    impact: str,
) -> tuple[Json, list[str]]:
    """The announcement to POST, or the problems with the options (checked before any call)."""
    problems = []
    times = {}
    for option, value in (("--start", start), ("--end", end)):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            problems.append(f"{option}: {value!r} is not an RFC 3339 time")
            continue
        if moment.tzinfo is None:
            problems.append(f"{option}: {value!r} needs an offset (Z or +01:00)")
        times[option] = moment.isoformat()
    body: Json = {
        "platform": platform, "kind": kind, "expected_impact": impact,
        "starts_at": times.get("--start"), "ends_at": times.get("--end"),
    }  # fmt: skip
    if services:
        body["services"] = services
    return body, problems


def render_maintenance(window: Json) -> str:
    line = f"{window['ref']} (id {window['id']}) {window['platform']}: {window['state']}"
    line += f", {window['kind']}, {when(window['starts_at'])} to {when(window['ends_at'])}"
    if window.get("successful") is not None:
        line += ", successful" if window["successful"] else ", NOT successful"
    return line


def render_maintenances(items: list[Json]) -> str:
    if not items:
        return "no maintenance windows"
    return "\n".join(render_maintenance(w) for w in items)
