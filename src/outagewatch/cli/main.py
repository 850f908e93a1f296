"""The ``outagewatch`` command. Exit codes: 0 success, 1 a probe found the service bad,
2 bad input (with one line per problem)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from outagewatch import __version__
from outagewatch.cli import channels as channels_cli
from outagewatch.cli import client_commands as client_cli
from outagewatch.config import (
    Config,
    ConfigError,
    load_config,
    secret_file_warnings,
    secret_problems,
)
from outagewatch.durations import format_duration
from outagewatch.store.errors import DatabaseProblem, masked, said_in_one_line

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from outagewatch.probes import ProbeResult

T = TypeVar("T")

EXIT_OK, EXIT_BAD, EXIT_INPUT = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    command: Callable[[argparse.Namespace], int] = args.command
    try:
        return command(args)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return EXIT_INPUT
    except DatabaseProblem as exc:  # unreachable, refused, not migrated, too new
        print(exc, file=sys.stderr)
        return EXIT_INPUT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="outagewatch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"outagewatch {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        type=Path,
        default=os.environ.get("OUTAGEWATCH_CONFIG"),
        help="config file (default: $OUTAGEWATCH_CONFIG)",
    )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    check = sub.add_parser("check-config", parents=[common], help="validate the config file")
    check.add_argument(
        "--secrets", action="store_true", help="also fail when a named secret cannot be read"
    )
    check.set_defaults(command=_check_config)

    probe = sub.add_parser("probe", parents=[common], help="probe one service once")
    probe.add_argument("target", metavar="PLATFORM/SERVICE")
    probe.add_argument("--json", action="store_true", help="print the result as JSON")
    probe.set_defaults(command=_probe)

    run = sub.add_parser("run", parents=[common], help="run the daemon")
    run.add_argument(
        "--no-upgrade", action="store_true", help="do not apply database migrations on start"
    )
    run.set_defaults(command=_run)

    report = sub.add_parser("report", parents=[common], help="the monthly record per platform")
    report.add_argument("--month", required=True, help="YYYY-MM, in each platform's time zone")
    report.add_argument("--platform", help="only this platform")
    report.add_argument("--format", choices=("text", "json", "csv"), default="text")
    report.set_defaults(command=_report)

    demo = sub.add_parser("demo", help="the whole cycle on loopback servers (about 2 minutes)")
    demo.add_argument("--keep-running", action="store_true", help="stay up after the scenario")
    demo.set_defaults(command=_demo)

    slo = sub.add_parser("slo", help="service level objectives")
    slo_sub = slo.add_subparsers(required=True, metavar="ACTION")
    slo_rules = slo_sub.add_parser(
        "rules", parents=[common], help="print the Prometheus rules of the config's SLOs"
    )
    slo_rules.add_argument(
        "--kubernetes", action="store_true", help="as a PrometheusRule of the Prometheus Operator"
    )
    slo_rules.set_defaults(command=_slo_rules)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(required=True, metavar="ACTION")
    db_upgrade = db_sub.add_parser("upgrade", parents=[common], help="apply migrations")
    db_upgrade.set_defaults(command=_db_upgrade)
    _token_parsers(sub, common)
    channels_cli.add_parsers(sub, common, _load)
    client_cli.add_parsers(sub)
    return parser


def _token_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    token = sub.add_parser("token", help="API tokens (shown once, stored as a hash)")
    token_sub = token.add_subparsers(required=True, metavar="ACTION")
    create = token_sub.add_parser("create", parents=[common], help="create a token, print it once")
    create.add_argument("--name", required=True, help="who uses it; the actor in timelines")
    create.add_argument("--role", required=True, help="viewer, oncall or admin")
    create.set_defaults(command=_token_create)
    listing = token_sub.add_parser("list", parents=[common], help="list tokens (never the secret)")
    listing.set_defaults(command=_token_list)
    revoke = token_sub.add_parser("revoke", parents=[common], help="revoke a token at once")
    revoke.add_argument("--name", required=True)
    revoke.set_defaults(command=_token_revoke)


def _load(args: argparse.Namespace) -> Config:
    if args.config is None:
        raise ConfigError(["no config file: pass -c FILE or set OUTAGEWATCH_CONFIG"])
    return load_config(args.config)


def _check_config(args: argparse.Namespace) -> int:
    from outagewatch.daemon.template_check import template_problems

    config = _load(args)
    secrets = secret_problems(config)
    if secrets and args.secrets:
        raise ConfigError(secrets)
    templates = template_problems(config.templates_dir)
    if templates:
        raise ConfigError(templates)
    print(f"{args.config}: OK")
    database = masked(config.database)
    print(f"vantage {config.vantage}, database {database}, api {config.api.listen}")
    if config.templates_dir is not None:
        overrides = sorted(p.name for p in config.templates_dir.glob("*.j2"))
        print(f"mail templates: {', '.join(overrides) or 'none'} from {config.templates_dir},"
              " the shipped ones for the rest (all render)")  # fmt: skip
    for pid, platform in config.platforms.items():
        zone = platform.timezone + (f", holidays {platform.holidays}" if platform.holidays else "")
        print(f"platform {pid} ({platform.name}; {zone})")
        print(f"  incident lists:      {', '.join(platform.lists.incident)}")
        print(f"  informational lists: {', '.join(platform.lists.informational)}")
        for sid, service in platform.services.items():
            rules = config.rules_for(pid, sid)
            print(
                f"  service {sid}: {service.protocol} {service.target}"
                f" (severity {service.severity}, slow after {format_duration(rules.slow_after)},"
                f" outage after {format_duration(rules.outage_after)}, every"
                f" {format_duration(rules.probe_interval)}, timeout"
                f" {format_duration(rules.probe_timeout)},"
                f" max gap {format_duration(rules.max_gap)})"
            )
    for name, channel in config.all_channels.items():
        kind = "paging" if channel.paging else "chat"
        routed = [pid for pid in config.platforms if name in config.channels_for(pid)]
        print(f"channel {name}: {channel.type} ({kind}), platforms: {', '.join(routed) or 'none'}")
    for problem in [*secrets, *secret_file_warnings(config)]:
        print(f"warning: {problem}", file=sys.stderr)
    return EXIT_OK


def _probe(args: argparse.Namespace) -> int:
    config = _load(args)
    platform, slash, service = args.target.partition("/")
    if not slash:
        raise ConfigError(
            [f"{args.target}: name the service as PLATFORM/SERVICE, e.g. eu-de-1/imap"]
        )
    try:
        config.service(platform, service)
    except KeyError as exc:
        raise ConfigError([f"{args.target}: {exc.args[0]}"]) from None
    problems = [
        p for p in secret_problems(config) if f"platforms.{platform}.services.{service}." in p
    ]
    if problems:
        raise ConfigError(problems)
    from outagewatch.probes import probe_configured  # the probe libraries load only here

    result = asyncio.run(probe_configured(config, platform, service))
    slow_after = config.rules_for(platform, service).slow_after.total_seconds()
    print(_render(args.target, result, slow_after, as_json=args.json))
    return EXIT_BAD if result.is_bad(slow_after) else EXIT_OK


def _run(args: argparse.Namespace) -> int:
    # The daemon's modules and the config of every service are some 300,000 objects that live
    # as long as the daemon; the collector's full passes walked them again and again while
    # they were made (0.55 of 3.5 CPU-s at 10,000 services). Paused meanwhile, then
    # frozen: refcounting still frees frozen objects, only cycles made meanwhile would stay
    # (gc.collect found none at the end of a start).
    gc.disable()
    try:
        from outagewatch.daemon.process import run_daemon
        from outagewatch.logs import configure

        config = _load(args)
    finally:
        gc.freeze()
        gc.enable()
    configure(config.log_format, config.log_level)
    for warning in secret_file_warnings(config):
        logging.getLogger("outagewatch.daemon").warning("%s", warning)
    with said_in_one_line(config.database):  # what waiting cannot mend ends the daemon
        asyncio.run(run_daemon(config, migrate=not args.no_upgrade, config_path=Path(args.config)))
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    import re
    from datetime import UTC, datetime

    from outagewatch.reporting.monthly import monthly_report

    config = _load(args)
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", args.month):
        raise ConfigError([f"--month: {args.month!r} is not YYYY-MM"])
    if args.platform is not None and args.platform not in config.platforms:
        raise ConfigError([f"--platform: no platform {args.platform!r} in {args.config}"])
    with said_in_one_line(config.database):
        text = asyncio.run(
            monthly_report(config, args.month, args.platform, args.format, datetime.now(UTC))
        )
    print(text)
    return EXIT_OK


def _slo_rules(args: argparse.Namespace) -> int:
    from outagewatch.reporting.slo_rules import prometheus_rule, slo_rules

    config = _load(args)
    print(prometheus_rule(config) if args.kubernetes else slo_rules(config), end="")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from outagewatch.cli.demo import main as demo_main

    return demo_main(args.keep_running)


def _db_upgrade(args: argparse.Namespace) -> int:
    from outagewatch.store.engine import open_engine
    from outagewatch.store.migrate import current_revision, upgrade

    config = _load(args)

    async def go() -> str | None:
        engine = open_engine(config.database)
        try:
            await upgrade(engine)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    with said_in_one_line(config.database):
        revision = asyncio.run(go())
    print(f"database {masked(config.database)} at revision {revision}")
    return EXIT_OK


def _in_database(config: Config, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction on the configured database, migrated first."""
    from outagewatch.store.engine import open_engine
    from outagewatch.store.migrate import upgrade

    async def go() -> T:
        engine = open_engine(config.database)
        try:
            await upgrade(engine)
            async with engine.begin() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    with said_in_one_line(config.database):
        return asyncio.run(go())


def _token_create(args: argparse.Namespace) -> int:
    from outagewatch.store import tokens

    config = _load(args)
    try:
        tokens.check_name(args.name)
        tokens.check_role(args.role)
        token, _ = _in_database(
            config, lambda conn: tokens.create(conn, args.name, args.role, datetime.now(UTC))
        )
    except tokens.TokenError as exc:
        raise ConfigError([f"token create: {exc}"]) from None
    # The token alone on stdout, so that TOKEN=$(outagewatch token create …) works.
    print(token)
    print(
        f"created token {args.name!r} with role {args.role};"
        " it will not be shown again, so store it now",
        file=sys.stderr,
    )
    return EXIT_OK


def _token_list(args: argparse.Namespace) -> int:
    from outagewatch.cli.client import when
    from outagewatch.store import tokens

    async def every(conn: AsyncConnection) -> list[tokens.TokenInfo]:
        found: list[tokens.TokenInfo] = []
        while page := await tokens.list_tokens(conn, 1000, found[-1].name if found else None):
            found += page  # a page of 1,000 at a time, read in SQL
        return found

    found = _in_database(_load(args), every)
    if not found:
        print("no tokens; create one with: outagewatch token create --name NAME --role ROLE")
        return EXIT_OK
    rows = [("NAME", "ROLE", "CREATED", "LAST USED", "REVOKED")] + [
        (t.name, t.role, when(t.created_at.isoformat()),
         when(t.last_used_at.isoformat()) if t.last_used_at else "never",
         when(t.revoked_at.isoformat()) if t.revoked_at else "-")
        for t in found
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def _token_revoke(args: argparse.Namespace) -> int:
    from outagewatch.store import tokens

    config = _load(args)
    if not _in_database(config, lambda conn: tokens.revoke(conn, args.name, datetime.now(UTC))):
        raise ConfigError([f"token revoke: no active token named {args.name!r}"])
    print(f"revoked token {args.name!r}")
    return EXIT_OK


def _render(target: str, result: ProbeResult, slow_after: float, *, as_json: bool) -> str:
    verdict = result.verdict(slow_after)
    if as_json:
        return json.dumps(
            {
                "target": target,
                "verdict": verdict,
                "ok": result.ok,
                "bad": result.is_bad(slow_after),
                "started_at": result.started_at.isoformat(),
                "duration_seconds": round(result.duration, 6),
                "error_kind": result.error_kind,
                "phases": {name: round(sec, 6) for name, sec in result.phases.items()},
                "detail": result.detail,
                "tls": result.tls.as_dict() if result.tls else None,
            },
            indent=2,
        )
    lines = [
        f"{target}: {verdict} in {result.duration:.3f}s (slow after {slow_after:g}s)",
        *(f"  {name:<11} {seconds:8.3f}s" for name, seconds in result.phases.items()),
    ]
    if result.error_kind is not None:
        lines.append(f"  error kind  {result.error_kind}")
    lines.append(f"  detail      {result.detail}")
    if result.tls is not None:
        lines.append("  certificate")
        lines.extend(f"    {line}" for line in result.tls.lines(result.started_at))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
