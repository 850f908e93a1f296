"""``python -m outagewatch.sim``: run simulators on loopback to rehearse a config or a demo.

Example::

    python -m outagewatch.sim --http 8080 --smtp 2525 --imap 1143 --pop3 1110 \\
        --tls starttls --cert-dir ./sim-tls --user probe@example.net:secret \\
        --greeting-delay 0.5 --control 8099

One line per simulator says where it listens, then a line with "ready"; SIGINT or SIGTERM
stops everything and exits 0. Bad arguments exit 2; a port that cannot be bound exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

from outagewatch.durations import parse_duration
from outagewatch.sim.control import ControlServer
from outagewatch.sim.faults import HOSTILE_MODES, FaultError, Faults
from outagewatch.sim.http import HttpServer
from outagewatch.sim.imap import ImapServer
from outagewatch.sim.pop3 import Pop3Server
from outagewatch.sim.server import SimServer
from outagewatch.sim.smtp import SmtpServer
from outagewatch.tls.contexts import TLS_MODES, TlsMode

SERVERS: dict[str, type[SimServer]] = {
    "http": HttpServer,
    "smtp": SmtpServer,
    "imap": ImapServer,
    "pop3": Pop3Server,
}


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m outagewatch.sim",
        description="Loopback HTTP/SMTP/IMAP/POP3 simulators with fault injection.",
    )
    for name in SERVERS:
        parser.add_argument(f"--{name}", type=int, metavar="PORT", help=f"run {name} (0 = any)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (127.0.0.1, ::1)")
    parser.add_argument(
        "--tls",
        choices=TLS_MODES,
        default="none",
        help="TLS mode of the mail simulators; HTTP uses https unless 'none'",
    )
    parser.add_argument("--cert", type=Path, help="server certificate chain (PEM)")
    parser.add_argument("--key", type=Path, help="private key of --cert (PEM)")
    parser.add_argument(
        "--cert-dir",
        type=Path,
        help="reuse or create ca.pem, cert.pem, key.pem here (needs cryptography)",
    )
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        metavar="NAME:PASSWORD",
        help="an account the simulators accept (repeatable)",
    )
    parser.add_argument(
        "--greeting-delay",
        type=_seconds,
        default=0.0,
        metavar="DURATION",
        help="wait before the greeting (0.5, 500ms, 2s)",
    )
    parser.add_argument(
        "--reply-delay",
        type=_seconds,
        default=0.0,
        metavar="DURATION",
        help="wait before each reply",
    )
    parser.add_argument("--hang", action="store_true", help="accept and never answer")
    parser.add_argument("--bad-banner", action="store_true", help="greet with a refusal")
    parser.add_argument("--reject-login", action="store_true", help="refuse every login")
    parser.add_argument("--hostile", choices=HOSTILE_MODES, help="misbehave at the byte level")
    parser.add_argument(
        "--drip-interval",
        type=_seconds,
        default=1.0,
        metavar="DURATION",
        help="between two bytes of --hostile drip (default 1s)",
    )
    parser.add_argument(
        "--control",
        type=int,
        metavar="PORT",
        help="serve GET /faults and POST /faults/{protocol} here",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        servers = _build_servers(args)
        return asyncio.run(_serve(servers, args.host, args.control))
    except UsageError as exc:
        parser.error(str(exc))  # exits 2
    except OSError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1


def _seconds(text: str) -> float:
    """Plain seconds (``0.5``) or a duration (``500ms``)."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _build_servers(args: argparse.Namespace) -> dict[str, SimServer]:
    wanted = {name: getattr(args, name) for name in SERVERS if getattr(args, name) is not None}
    if not wanted:
        raise UsageError(f"choose at least one of {', '.join('--' + n for n in SERVERS)}")
    users = dict(_account(text) for text in args.user)
    context = _server_context(args) if args.tls != "none" else None
    servers: dict[str, SimServer] = {}
    for name, port in wanted.items():
        faults = Faults()
        try:
            faults.update(
                {
                    "greeting_delay": args.greeting_delay,
                    "reply_delay": args.reply_delay,
                    "hang": args.hang,
                    "bad_banner": args.bad_banner,
                    "reject_login": args.reject_login,
                    "hostile": args.hostile,
                    "drip_interval": args.drip_interval,
                }
            )
            # HTTP has no STARTTLS: with any TLS the webmail is served over https.
            tls: TlsMode = "implicit" if name == "http" and args.tls == "starttls" else args.tls
            servers[name] = SERVERS[name](
                host=args.host, port=port, tls=tls, ssl_context=context, users=users, faults=faults
            )
        except (FaultError, ValueError) as exc:
            raise UsageError(f"--{name}: {exc}") from None
    return servers


def _account(text: str) -> tuple[str, str]:
    name, sep, password = text.partition(":")
    if not sep or not name:
        # Never echo the argument: it holds a password.
        raise UsageError("--user takes NAME:PASSWORD")
    return name, password


def _server_context(args: argparse.Namespace) -> ssl.SSLContext:
    if args.cert is not None or args.key is not None:
        if args.cert is None or args.key is None:
            raise UsageError("--cert and --key go together")
        cert, key = args.cert, args.key
    elif args.cert_dir is not None:
        try:
            from outagewatch.sim.certs import ensure_certificate
        except ImportError:
            raise UsageError(
                "--cert-dir needs the 'cryptography' package; install it or pass --cert and --key"
            ) from None
        files = ensure_certificate(args.cert_dir)
        print(f"TLS: clients trust {files.ca}", flush=True)
        cert, key = files.cert, files.key
    else:
        raise UsageError(f"--tls {args.tls} needs --cert and --key, or --cert-dir")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise UsageError(f"cannot load --cert {cert} / --key {key}: {exc}") from None
    return context


async def _serve(servers: dict[str, SimServer], host: str, control_port: int | None) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    control = None if control_port is None else ControlServer(servers, host=host, port=control_port)
    started: list[SimServer] = []
    try:
        for name, server in servers.items():
            await server.start()
            started.append(server)
            users = ", ".join(server.users) or "none"
            print(
                f"{name} listening on {server.address} tls={server.tls} users={users}", flush=True
            )
        if control is not None:
            await control.start()
            print(f"control listening on {control.url}", flush=True)
        print("ready; SIGINT or SIGTERM stops", flush=True)
        await stopping.wait()
    finally:
        if control is not None:
            await control.stop()
        for server in started:
            await server.stop()
    print("stopped", flush=True)
    return 0
