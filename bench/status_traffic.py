"""``python -m bench.status_traffic``: visitors of the public status page, in a process of
their own (neither the daemon's nor the harness's), at a fixed rate for one window.

Open loop: request ``k`` starts at ``start + k / rate`` whether or not the ones before it
were answered, as independent visitors arrive; a daemon that answers slowly faces more
requests at once, not fewer. The visitors come from ``--clients`` loopback addresses
(127.0.0.2 and up), so that none of them exceeds the public pages' rate limit per client;
they take the given paths in turn and accept gzip as browsers do.

Protocol with the harness: once its sessions are made it prints ``ready``; it then reads the
window's start (a perf_counter value: CLOCK_MONOTONIC, shared with the harness) from its
standard input, runs the window, and prints one JSON line: ``{"sent": [[path index,
when it was due and when it was sent (seconds after the start), seconds to the last byte,
HTTP status or 0 for no answer], ...]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence

import aiohttp

ANSWER_TIMEOUT = 30.0


async def _request(session: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    began = time.perf_counter()
    try:
        async with session.get(url) as response:
            await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0
    return time.perf_counter() - began, status


async def visit(base: str, paths: list[str], rate: float, duration: float, clients: int) -> None:
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(f"127.0.0.{2 + n}", 0)),
            timeout=aiohttp.ClientTimeout(total=ANSWER_TIMEOUT),
            auto_decompress=False,  # the bodies are not looked at: spare the shared CPU
            headers={"Accept-Encoding": "gzip, deflate"},
        )
        for n in range(clients)
    ]
    print("ready", flush=True)
    start = float(sys.stdin.readline())  # the loop has nothing else to do yet
    count = round(rate * duration)
    tasks = []
    sent = []
    try:
        for k in range(count):
            await asyncio.sleep(max(0.0, start + k / rate - time.perf_counter()))
            sent.append(time.perf_counter() - start)
            session = sessions[k % clients]
            tasks.append(asyncio.create_task(_request(session, base + paths[k % len(paths)])))
        answers = await asyncio.gather(*tasks)
    finally:
        for session in sessions:
            await session.close()
    report = [
        [k % len(paths), round(k / rate, 6), round(sent[k], 6), round(seconds, 6), status]
        for k, (seconds, status) in enumerate(answers)
    ]
    print(json.dumps({"sent": report}), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.status_traffic")
    parser.add_argument("--base", required=True, help="the daemon, http://127.0.0.1:PORT")
    parser.add_argument("--paths", required=True, help="comma-separated, taken in turn")
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--duration", type=float, required=True, help="seconds")
    parser.add_argument("--clients", type=int, default=10, help="loopback addresses")
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    args = parser.parse_args(argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    paths = args.paths.split(",")
    asyncio.run(visit(args.base, paths, args.rate, args.duration, args.clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())
