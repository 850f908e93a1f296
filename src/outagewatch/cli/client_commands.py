"""The terminal client commands (``outagewatch incidents …``, ``outagewatch maintenance …``,
``outagewatch services``): thin clients of the HTTP API, for engineers at a terminal. The
token comes from $OUTAGEWATCH_TOKEN; exit 0 ok, 1 when the API refuses, 2 for bad input or
no API."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from outagewatch.config import ConfigError

if TYPE_CHECKING:
    from outagewatch.cli.client import Client as ApiClient


def add_parsers(sub: Any) -> None:
    _incidents_parsers(sub)
    _maintenance_parsers(sub)
    _services_parser(sub)


def _api() -> argparse.ArgumentParser:
    api = argparse.ArgumentParser(add_help=False)
    api.add_argument(
        "--url",
        default=os.environ.get("OUTAGEWATCH_URL") or "http://127.0.0.1:8080",
        help="the API (default: $OUTAGEWATCH_URL or http://127.0.0.1:8080);"
        " the token comes from $OUTAGEWATCH_TOKEN",
    )
    return api


def _incidents_parsers(sub: Any) -> None:
    api = _api()
    incidents = sub.add_parser("incidents", help="incidents, through the HTTP API")
    inc_sub = incidents.add_subparsers(required=True, metavar="ACTION")
    listing = inc_sub.add_parser("list", parents=[api], help="list incidents, newest first")
    listing.add_argument("--state", help="open, acknowledged, restored or closed")
    listing.set_defaults(command=_incidents_list)
    show = inc_sub.add_parser("show", parents=[api], help="one incident, timeline and mails")
    show.add_argument("key", metavar="ID_OR_REF")
    show.set_defaults(command=_incidents_show)
    ack = inc_sub.add_parser("ack", parents=[api], help="acknowledge an incident")
    ack.add_argument("key", metavar="ID_OR_REF")
    ack.add_argument("--note")
    ack.set_defaults(command=_incidents_ack)
    update = inc_sub.add_parser("update", parents=[api], help="post a customer update")
    update.add_argument("key", metavar="ID_OR_REF")
    update.add_argument("--message", help="the text of the update mail")
    update.add_argument("--impact", help="what users notice")
    update.add_argument("--etr", help="estimated time of resolution, RFC 3339")
    update.add_argument("--every", metavar="DURATION", help="update cadence, e.g. 30m")
    update.add_argument("--severity", help="1 (worst) to 4")
    update.set_defaults(command=_incidents_update)


def _maintenance_parsers(sub: Any) -> None:
    api = _api()
    maintenance = sub.add_parser("maintenance", help="maintenance windows, through the HTTP API")
    m_sub = maintenance.add_subparsers(required=True, metavar="ACTION")
    listing = m_sub.add_parser("list", parents=[api], help="windows, latest start first")
    listing.add_argument("--state", help="scheduled, in_progress, finished or cancelled")
    listing.add_argument("--platform")
    listing.set_defaults(command=_maintenance_list)
    create = m_sub.add_parser("create", parents=[api], help="announce a window")
    create.add_argument("--platform", required=True)
    create.add_argument("--service", action="append", dest="services", help="repeat; omit for all")
    create.add_argument("--kind", choices=("planned", "emergency"), default="planned")
    create.add_argument("--start", required=True, help="RFC 3339, e.g. 2026-11-26T22:00:00+01:00")
    create.add_argument("--end", required=True, help="RFC 3339")
    create.add_argument("--impact", required=True, help="the expected impact, for the mail")
    create.set_defaults(command=_maintenance_create)
    finish = m_sub.add_parser("finish", parents=[api], help="finish a window with its outcome")
    finish.add_argument("key", metavar="ID_OR_REF")
    outcome = finish.add_mutually_exclusive_group(required=True)
    outcome.add_argument("--successful", action="store_true")
    outcome.add_argument("--failed", action="store_true")
    finish.add_argument("--note")
    finish.set_defaults(command=_maintenance_finish)


def _services_parser(sub: Any) -> None:
    services = sub.add_parser(
        "services", parents=[_api()], help="services and their state, through the HTTP API"
    )
    services.add_argument("--platform", help="only this platform's services")
    services.add_argument("--state", help="ok, bad, degraded, outage, maintenance or unknown")
    services.set_defaults(command=_services_list)


def _incidents_list(args: argparse.Namespace) -> int:
    from outagewatch.cli.client import STATES, render_list, run

    if args.state is not None and args.state not in STATES:
        raise ConfigError([f"--state: {args.state!r} is not one of {', '.join(STATES)}"])

    async def action(client: ApiClient) -> str:
        return render_list(await client.list_incidents(args.state), args.state)

    return run(args.url, os.environ.get("OUTAGEWATCH_TOKEN"), action)


def _incidents_show(args: argparse.Namespace) -> int:
    from outagewatch.cli.client import check_key, render_incident, run

    if problem := check_key(args.key):
        raise ConfigError([problem])

    async def action(client: ApiClient) -> str:
        return render_incident(await client.incident(args.key))

    return run(args.url, os.environ.get("OUTAGEWATCH_TOKEN"), action)


def _incidents_ack(args: argparse.Namespace) -> int:
    from outagewatch.cli.client import check_key, render_changed, run

    if problem := check_key(args.key):
        raise ConfigError([problem])

    async def action(client: ApiClient) -> str:
        return render_changed(await client.ack(args.key, args.note))

    return run(args.url, os.environ.get("OUTAGEWATCH_TOKEN"), action)


def _incidents_update(args: argparse.Namespace) -> int:
    from outagewatch.cli.client import check_key, render_changed, run, update_body

    body, problems = update_body(args.message, args.impact, args.etr, args.every, args.severity)
    problems = [p for p in [check_key(args.key)] if p] + problems
    if problems:
        raise ConfigError(problems)

    async def action(client: ApiClient) -> str:
        return render_changed(await client.update(args.key, body))

    return run(args.url, os.environ.get("OUTAGEWATCH_TOKEN"), action)


def _services_list(args: argparse.Namespace) -> int:
    from outagewatch.cli.client import SERVICE_STATES, render_services, run

    if args.state is not None and args.state not in SERVICE_STATES:
        raise ConfigError([f"--state: {args.state!r} is not one of {', '.join(SERVICE_STATES)}"])

    async def action(client: ApiClient) -> str:
        return render_services(await client.list_services(), args.platform, args.state)

    return run(args.url, os.environ.get("OUTAGEWATCH_TOKEN"), action)


def _maintenance_list(args: argparse.Namespace) -> int:
    from outagewatch.cli.client import render_maintenances, run

    async def action(client: ApiClient) -> str:
        return render_maintenances(await client.list_maintenances(args.state, args.platform))

    return run(args.url, os.environ.get("OUTAGEWATCH_TOKEN"), action)


def _maintenance_create(args: argparse.Namespace) -> int:
    from outagewatch.cli.client import maintenance_body, render_maintenance, run

    body, problems = maintenance_body(
        args.platform, args.services, args.kind, args.start, args.end, args.impact
    )
    if problems:
        raise ConfigError(problems)

    async def action(client: ApiClient) -> str:
        return render_maintenance(await client.create_maintenance(body))

    return run(args.url, os.environ.get("OUTAGEWATCH_TOKEN"), action)


def _maintenance_finish(args: argparse.Namespace) -> int:
    from outagewatch.cli.client import check_key, render_maintenance, run

    if problem := check_key(args.key):
        raise ConfigError([problem])
    body: dict[str, Any] = {"successful": bool(args.successful)}
    if args.note:
        body["note"] = args.note

    async def action(client: ApiClient) -> str:
        return render_maintenance(await client.finish_maintenance(args.key, body))

    return run(args.url, os.environ.get("OUTAGEWATCH_TOKEN"), action)
