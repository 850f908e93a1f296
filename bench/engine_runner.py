"""``python -m bench.engine_runner SPEC OUT``: outagewatch's probe engine under measurement.

The engine is wired as ``Daemon`` wires it (daemon/process.py): the real `Prober` (its timers
and protocol probes) on its own loop and thread (`ProbeLoop`) hands every result to the real
`Detector` on the main loop, which writes the samples
to a SQLite file, judges them and exports the metrics, in a round every tick.
The API, incidents, maintenance and the outbox are left out: they do not scale with targets.

The process measures itself over a window after a warm-up: CPU seconds (all threads),
event-loop lag of the probe loop (how late each probe started, as the daemon exports it: a
sampler of its own would cost the CPU it measures), the probes that completed, each with
the perf_counter time its own clock stopped (from its wall-clock end: the result crosses to
the main loop later) and its measured duration. Peak RSS covers the whole life of the
process, start-up included.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.daemon_process import cpu_between, probes_on, tree_cpu, worker_count
from bench.layout import EHLO_NAME, PASSWORD, PASSWORD_ENV, USER, TargetSpec, from_json
from outagewatch.config.model import usable_cpus
from outagewatch.config.rules import Rules
from outagewatch.config.services import Auth, HttpService, ImapService, Pop3Service, SmtpService
from outagewatch.config.targets import Target
from outagewatch.daemon.collector import freeze_long_lived_objects
from outagewatch.daemon.pacing import Pace
from outagewatch.daemon.probe_loop import ProbeLoop
from outagewatch.daemon.probe_workers import ProbeWorkers
from outagewatch.detection.detector import Detector
from outagewatch.detection.export import DetectionExport
from outagewatch.detection.sample_writer import SampleWriter
from outagewatch.logs import configure as configure_logging
from outagewatch.metrics import Metrics
from outagewatch.probes import ProbeResult
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade

PLATFORM = "bench"


def outagewatch_target(spec: TargetSpec, rules: Rules) -> Target:
    auth = Auth(username=USER, password_env=PASSWORD_ENV)
    service: HttpService | SmtpService | ImapService | Pop3Service
    if spec.protocol == "http":
        service = HttpService(protocol="http", url=spec.url, expect_body="OX App Suite")
    elif spec.protocol == "smtp":
        service = SmtpService(
            protocol="smtp", host="127.0.0.1", port=spec.port, auth=auth, ehlo_name=EHLO_NAME
        )
    elif spec.protocol == "imap":
        service = ImapService(protocol="imap", host="127.0.0.1", port=spec.port, auth=auth)
    else:
        service = Pop3Service(protocol="pop3", host="127.0.0.1", port=spec.port, auth=auth)
    return Target(PLATFORM, spec.name, service, rules)


def rules_for(interval: float) -> Rules:
    every = timedelta(seconds=interval)
    return Rules(probe_interval=every, max_gap=3 * every)


@dataclass
class Measurement:
    window: tuple[float, float] = (0.0, 0.0)
    cpu: float = 0.0
    lags: list[float] = field(default_factory=list)
    # (target name, perf_counter when handed over, duration, ok)
    probes: list[tuple[str, float, float, bool]] = field(default_factory=list)
    startup: float = 0.0
    gc_pauses: list[float] = field(default_factory=list)  # full collections in the window
    _gc_started: float = 0.0

    def in_window(self, at: float) -> bool:
        return self.window[0] <= at <= self.window[1]

    def on_late(self, lateness: float) -> None:
        """On the probe thread, as each probe starts (a list's append is atomic)."""
        if self.in_window(time.perf_counter()):
            self.lags.append(lateness)

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        """gc.callbacks hook: the event loop stands still while the collector runs."""
        if info.get("generation") != 2:
            return
        now = time.perf_counter()
        if phase == "start":
            self._gc_started = now
        elif self.in_window(now):
            self.gc_pauses.append(now - self._gc_started)


async def detect_loop(
    samples: SampleWriter,
    detector: Detector,
    probes: ProbeLoop | ProbeWorkers,
    pace: Pace,
    wake: asyncio.Event,
    on_round: Callable[[], None],
) -> None:
    """Daemon._detect_until_stopped and Daemon._round of the leader (the one instance on
    SQLite), less the maintenance, incident, export and housekeeping steps: rounds paced as
    the daemon paces them (daemon/pacing.py), taking the probe loop's results."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        wake.clear()
        probes.drain()
        on_round()
        while await samples.step():
            pass
        while await detector.step(datetime.now(UTC)):
            pass
        await pace.next_round(started, wake, asyncio.Event())


async def freeze_after(interval: float) -> None:
    """Daemon._freeze_long_lived_objects: once every service has its job, track and series."""
    await asyncio.sleep(interval)
    freeze_long_lived_objects()


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    interval, warmup, duration = spec["interval"], spec["warmup"], spec["duration"]
    rules = rules_for(interval)
    targets = [outagewatch_target(t, rules) for t in from_json(spec["targets"])]
    by_name = {t.service_id: t for t in targets}
    engine = open_engine(f"sqlite+aiosqlite:///{spec['database']}")
    await upgrade(engine)
    export = DetectionExport(Metrics(), "bench")
    samples = SampleWriter(engine, targets, "bench", export)
    detector = Detector(engine, targets, "bench", export)
    await detector.restore(datetime.now(UTC))
    out = Measurement()
    gc.callbacks.append(out.on_gc)

    def sink(target: Target, result: ProbeResult) -> None:
        # When the probe's clock stopped, on the probe thread: its result crosses to this
        # loop a moment later. The wall clock's offset is taken now, not once, so that a
        # slewing clock cannot move the probe off its connection record.
        wall_to_perf = time.time() - time.perf_counter()
        stopped = result.started_at.timestamp() + result.duration - wall_to_perf
        out.probes.append((target.service_id, stopped, result.duration, result.ok))
        samples.accept(target, result)

    wake = asyncio.Event()
    # As the daemon's probe_workers says (None: its default, auto): worker processes, whose
    # CPU (the fork server's and the hand-over's included) is the engine's, or the thread.
    workers = spec.get("probe_workers") or "auto"
    cpus = usable_cpus()  # what the daemon's auto counts: this process is pinned as it would be
    count = worker_count(workers, cpus)
    prober: ProbeLoop | ProbeWorkers
    if count:
        prober = ProbeWorkers(targets, sink, count, on_batch=wake.set)
    else:
        prober = ProbeLoop(targets, sink, on_late=out.on_late, on_batch=wake.set)
    await prober.start()

    def on_round() -> None:
        # A worker's lag comes in its batches: the latest batch's, taken once a round.
        if isinstance(prober, ProbeWorkers):
            out.on_late(prober.lag)

    out.startup = time.perf_counter() - started
    window_start = time.perf_counter() + warmup
    out.window = (window_start, window_start + duration)
    helpers = [
        asyncio.create_task(freeze_after(interval)),
        asyncio.create_task(
            detect_loop(samples, detector, prober, Pace.of(targets), wake, on_round)
        ),
    ]
    await asyncio.sleep(warmup)
    cpu_start, tree_start = time.process_time(), _children_cpu()
    await asyncio.sleep(duration)
    out.cpu = time.process_time() - cpu_start + cpu_between(tree_start, _children_cpu())
    await prober.stop()
    for task in helpers:
        if task.done():
            task.result()  # a detector that failed fails the run
        task.cancel()
    await asyncio.gather(*helpers, return_exceptions=True)
    # No final flush: samples still queued are not measured, and an engine that fell
    # behind would make the run's end unbounded.
    await engine.dispose()
    return {
        "window": out.window,
        "cpu": out.cpu,
        "startup": out.startup,
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "probes_on": probes_on(workers, cpus),
        "lags": out.lags,
        "gc_pauses": out.gc_pauses,
        "probes": [
            (name, at, duration, ok, by_name[name].service.protocol)
            for name, at, duration, ok in out.probes
        ],
    }


def _children_cpu() -> dict[int, float]:
    """CPU seconds of every process below this one (probe workers and their fork server)."""
    return {pid: cpu for pid, cpu in tree_cpu(os.getpid()).items() if pid != os.getpid()}


def main(argv: list[str]) -> int:
    spec_file, out_file = Path(argv[0]), Path(argv[1])
    spec = json.loads(spec_file.read_text())
    if spec.get("cpu") is not None:
        os.sched_setaffinity(0, {spec["cpu"]})
    os.environ.setdefault(PASSWORD_ENV, PASSWORD)
    configure_logging("text", "info")  # as `outagewatch run` does
    result = asyncio.run(run(spec))
    out_file.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
