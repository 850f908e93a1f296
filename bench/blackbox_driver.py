"""Drives blackbox_exporter as Prometheus would, at the rate outagewatch probes the targets.

Target ``i`` is first probed at ``interval * i / N`` and then every ``interval``, each
``/probe`` request on its own (concurrent, as Prometheus scrapes are); the CPU of the
exporter is read from /proc over the same measurement window as outagewatch's.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp

from bench.blackbox import probe_query, read_cpu
from bench.layout import TargetSpec

REQUEST_TIMEOUT = 70.0


@dataclass(frozen=True)
class BlackboxProbe:
    name: str
    sent: float  # perf_counter
    received: float
    duration: float  # probe_duration_seconds
    ok: bool


@dataclass
class DriverResult:
    window: tuple[float, float]
    cpu: float
    probes: list[BlackboxProbe] = field(default_factory=list)
    failed_requests: int = 0


async def drive(
    base_url: str,
    pid: int,
    targets: list[TargetSpec],
    interval: float,
    warmup: float,
    duration: float,
) -> DriverResult:
    start = time.perf_counter()
    window = (start + warmup, start + warmup + duration)
    result = DriverResult(window=window, cpu=0.0)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        base_url, connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    ) as session:
        pending: set[asyncio.Task[None]] = set()
        measuring = asyncio.create_task(_measure_cpu(pid, window, result))
        for at, target in _schedule(targets, interval, start, window[1]):
            delay = at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(_probe(session, target, result))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await measuring
        await asyncio.gather(*pending)
    return result


def _schedule(
    targets: list[TargetSpec], interval: float, start: float, end: float
) -> list[tuple[float, TargetSpec]]:
    count = len(targets)
    fires = []
    rounds = int((end - start) / interval) + 1
    for r in range(rounds):
        for i, target in enumerate(targets):
            at = start + r * interval + interval * i / count
            if at < end:
                fires.append((at, target))
    fires.sort(key=lambda item: item[0])
    return fires


async def _measure_cpu(pid: int, window: tuple[float, float], result: DriverResult) -> None:
    await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
    before = read_cpu(pid)
    await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
    result.cpu = read_cpu(pid) - before


async def _probe(session: aiohttp.ClientSession, target: TargetSpec, result: DriverResult) -> None:
    module, address = probe_query(target)
    sent = time.perf_counter()
    try:
        async with session.get("/probe", params={"module": module, "target": address}) as answer:
            text = await answer.text()
    except (aiohttp.ClientError, TimeoutError):
        result.failed_requests += 1
        return
    received = time.perf_counter()
    values = _metrics(text)
    result.probes.append(
        BlackboxProbe(
            name=target.name,
            sent=sent,
            received=received,
            duration=values.get("probe_duration_seconds", float("nan")),
            ok=values.get("probe_success") == 1.0,
        )
    )


def _metrics(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        if line.startswith(("probe_duration_seconds ", "probe_success ")):
            name, _, value = line.partition(" ")
            values[name] = float(value)
    return values
