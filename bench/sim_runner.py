"""``python -m bench.sim_runner``: the simulators of a benchmark run, in a process of their own.

Every server injects the same latency per connection (``greeting_delay``: before the
greeting, or before the HTTP response) and keeps every connection's accept-to-close record.
The harness drains the closed records through ``POST /records/drain`` on the control port,
so they leave the process as perf_counter seconds, which on Linux are CLOCK_MONOTONIC and
therefore comparable across the processes of one machine.

Beside them runs one hostile server per protocol and shape (`HOSTILE_SHAPES`), for the rows
of healthy probes beside hostile targets; ``POST /hostile/off`` makes them answer as the
healthy servers do (for new connections) and ``POST /hostile/on`` hostile again, so that one
daemon can be measured in quiet and hostile windows in turn. It prints one JSON line,
``{"control": PORT, "ports": {"http": [...], ...}, "hostile": {"http-drip": PORT, ...}}``,
when ready, and stops on SIGTERM, SIGINT or when its standard input closes (its parent has gone).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence

from aiohttp import web

from bench.layout import HOST, PASSWORD, PROTOCOLS, USER, server_key
from outagewatch.sim import Faults, HttpServer, ImapServer, Pop3Server, SimServer, SmtpServer
from outagewatch.sim.faults import Hostile
from outagewatch.sim.tracking import ConnectionTracker

SERVERS: dict[str, type[SimServer]] = {
    "http": HttpServer,
    "smtp": SmtpServer,
    "imap": ImapServer,
    "pop3": Pop3Server,
}
# The hostile servers of the "beside hostile targets" rows: one per protocol and shape.
HOSTILE_SHAPES: tuple[Hostile, ...] = ("endless_line", "endless_lines", "drip")
# The simulators' own bound (10,000 per server) would drop records of a long 10k run
# between two drains.
MAX_RECORDS = 2_000_000


def build_servers(per_protocol: int, latency: float) -> dict[str, SimServer]:
    servers: dict[str, SimServer] = {}
    for protocol in PROTOCOLS:
        for index in range(per_protocol):
            server = SERVERS[protocol](
                host=HOST, users={USER: PASSWORD}, faults=Faults(greeting_delay=latency)
            )
            server.tracker = ConnectionTracker(max_records=MAX_RECORDS)
            server.connections = server.tracker.records
            servers[server_key(protocol, index)] = server
    return servers


def build_hostile() -> dict[str, SimServer]:
    """Keyed "hostile/http-drip" and so on: a server that never stops talking, or drips."""
    return {
        f"hostile/{protocol}-{shape}": SERVERS[protocol](
            host=HOST, users={USER: PASSWORD}, faults=Faults(hostile=shape)
        )
        for protocol in PROTOCOLS
        for shape in HOSTILE_SHAPES
    }


def set_hostile(hostile: dict[str, SimServer], on: bool, latency: float) -> None:
    """Each hostile server misbehaves in its shape (``on``), or answers as a healthy one with
    the same latency; the change applies to the connections accepted after it."""
    shapes: dict[str, Hostile] = {shape: shape for shape in HOSTILE_SHAPES}
    for key, server in hostile.items():
        server.faults.hostile = shapes[key.split("-", 1)[1]] if on else None
        server.faults.greeting_delay = 0.0 if on else latency


def drain(servers: dict[str, SimServer]) -> dict[str, list[tuple[float, float]]]:
    """Take the records of the connections that are closed; open ones stay for next time."""
    out: dict[str, list[tuple[float, float]]] = {}
    for key, server in servers.items():
        records = server.connections
        closed = [(r.accepted_at, r.closed_at) for r in records if r.closed_at is not None]
        still_open = [r for r in records if r.closed_at is None]
        records.clear()
        records.extend(still_open)
        out[key] = closed
    return out


def control_app(
    servers: dict[str, SimServer], hostile: dict[str, SimServer], latency: float
) -> web.Application:
    async def drain_records(request: web.Request) -> web.Response:
        return web.json_response(drain(servers))

    async def switch_hostile(request: web.Request) -> web.Response:
        set_hostile(hostile, request.match_info["state"] == "on", latency)
        return web.json_response({})

    async def usage(request: web.Request) -> web.Response:
        times = os.times()
        return web.json_response({"cpu": times.user + times.system})

    app = web.Application()
    app.router.add_post("/records/drain", drain_records)
    app.router.add_get("/cpu", usage)
    app.router.add_post("/hostile/{state:on|off}", switch_hostile)
    return app


async def serve(per_protocol: int, latency: float) -> None:
    servers = build_servers(per_protocol, latency)
    hostile = build_hostile()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    loop.add_reader(sys.stdin.fileno(), _on_stdin, stopping)
    runner = web.AppRunner(control_app(servers, hostile, latency), access_log=None)
    await runner.setup()
    try:
        for server in (*servers.values(), *hostile.values()):
            await server.start()
        await web.TCPSite(runner, HOST, 0).start()
        control_port = runner.addresses[0][1]
        ports = {
            p: [s.port for k, s in servers.items() if k.startswith(f"{p}/")] for p in PROTOCOLS
        }
        hostile_ports = {key.split("/", 1)[1]: s.port for key, s in hostile.items()}
        ready = {"control": control_port, "ports": ports, "hostile": hostile_ports}
        print(json.dumps(ready), flush=True)
        await stopping.wait()
    finally:
        loop.remove_reader(sys.stdin.fileno())
        await runner.cleanup()
        for server in (*servers.values(), *hostile.values()):
            await server.stop()


def _on_stdin(stopping: asyncio.Event) -> None:
    if not os.read(sys.stdin.fileno(), 4096):
        stopping.set()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_runner")
    parser.add_argument("--servers-per-protocol", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.025, help="seconds per connection")
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    asyncio.run(serve(args.servers_per_protocol, args.latency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
