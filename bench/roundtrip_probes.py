"""The child of bench/roundtrip.py: runs probes of each kind against the given services and
prints its own CPU time per kind as JSON. Only probe code runs in this process, so its CPU
is the probes' cost (the servers and the relay live in the parent and in Dovecot)."""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from typing import Any

from pydantic import TypeAdapter

from outagewatch.config import Service
from outagewatch.probes import PROBES, Credentials, run_probe


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(spec: dict[str, Any]) -> dict[str, Any]:
    service = TypeAdapter(Service).validate_python(spec["service"])
    user, password = spec["username"], spec["password"]
    creds = Credentials(user, password)
    if service.protocol == "roundtrip":
        creds = Credentials(user, password, submit=creds)
    await run_probe(PROBES[service.protocol], service, limit=30, credentials=creds)  # warm-up
    cpu, wall = cpu_seconds(), time.perf_counter()
    durations, failed = [], 0
    for _ in range(spec["count"]):
        result = await run_probe(PROBES[service.protocol], service, limit=30, credentials=creds)
        durations.append(result.duration)
        failed += not result.ok
    return {
        "probes": spec["count"],
        "failed": failed,
        "cpu": cpu_seconds() - cpu,
        "wall": time.perf_counter() - wall,
        "median": sorted(durations)[len(durations) // 2],
    }


async def main() -> None:
    specs = json.load(sys.stdin)
    print(json.dumps({name: await measure(spec) for name, spec in specs.items()}))


if __name__ == "__main__":
    asyncio.run(main())
