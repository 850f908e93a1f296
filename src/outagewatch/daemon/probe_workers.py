"""The probes in worker processes: each probes a fixed share of the services and does nothing
else; the daemon's own process judges, mails and serves.

In one process a probe's stopwatch shares one interpreter (the GIL, the garbage collector)
with page rendering, the API, judgement and scrapes; a worker shares only the machine. The
share is a stable split by service key (``share_of``), so a reload leaves a kept service on
its worker, keeping its pace; added services start on theirs, removed ones stop.

Hand-over: a worker sends its results in batches (daemon/worker_process.py: at the end of
the turn that finished one, at most one batch every ``HAND_OVER``),
``(sequence, lateness, [(service key, ProbeResult), ...])`` on a pipe;
a thread of the daemon per worker reads it and queues the results for the detection round
(``drain``), as the probe thread does (daemon/probe_loop.py). What is guaranteed:

* While a worker lives, every result it finished reaches the daemon once, in order: a pipe
  neither loses nor repeats, and each batch's sequence number is checked (a repeat would be
  dropped and a gap logged as the bug it would be).
* A worker that dies (a crash, SIGKILL, the OOM killer) loses the probes it had in flight,
  as a daemon's stop does, the results still waiting for their batch (at most the last
  ``HAND_OVER``'s), and a batch only if it died while writing that batch; nothing it sent
  before. It is started again with its share, logged and
  counted (``outagewatch_probe_worker_restarts_total{worker}``); its services start within
  one interval, as after a start.

Workers are started by the ``forkserver`` method: a clean server process, not a fork of the
daemon's threads and loop, forks each worker with daemon/worker_process.py already imported,
so a restart takes milliseconds. Workers ignore SIGTERM and SIGINT: the daemon stops them,
and a worker whose daemon is gone (its control pipe closed) stops by itself.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing
import pickle
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Literal

from outagewatch.config import Config
from outagewatch.config.targets import Target
from outagewatch.daemon.pacing import BATCH
from outagewatch.daemon.probe_loop import ProbeLoop, settle
from outagewatch.daemon.scheduler import Sink
from outagewatch.daemon.worker_process import Batch, Key, work
from outagewatch.metrics import Metrics
from outagewatch.probes import ProbeResult

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # seconds for every worker to have started its probes
STOP_TIMEOUT = 5.0  # seconds a worker may take to stop before it is killed
YOUNG = 1.0  # a worker that dies sooner after its start is started again this much later


def share_of(key: Key, workers: int) -> int:
    """The worker that probes a service: the same for a key whatever else the config holds
    (not ``hash``, which differs between processes)."""
    return zlib.crc32("/".join(key).encode()) % workers


def shares(targets: list[Target], workers: int) -> list[list[Target]]:
    split: list[list[Target]] = [[] for _ in range(workers)]
    for target in targets:
        split[share_of(target.key, workers)].append(target)
    return split


@dataclass
class _Worker:
    """The daemon's side of one worker: its share and its current process."""

    index: int
    share: list[Target]
    process: BaseProcess | None = None
    control: Connection | None = None  # the daemon writes: a new share, or stop
    results: Connection | None = None  # the worker writes: batches
    seq: int = 0  # the last batch taken from the current process
    started_at: float = 0.0
    thread: threading.Thread | None = field(default=None, repr=False)


class ProbeWorkers:
    """``count`` worker processes probe ``targets``; the daemon's loop hands their results to
    ``sink`` when it calls ``drain``. The same face as `ProbeLoop`: ``start``, ``retarget``,
    ``drain``, ``lag`` and ``stop``. ``on_restart`` (on a reader thread) is told the number of
    each worker started again."""

    def __init__(
        self,
        targets: list[Target],
        sink: Sink,
        count: int,
        *,
        on_batch: Callable[[], None] | None = None,
        on_restart: Callable[[int], None] | None = None,
        logging_as: tuple[Literal["text", "json"], str] = ("text", "info"),
        batch: int = BATCH,
    ) -> None:
        self.sink = sink
        self.on_batch = on_batch
        self.on_restart = on_restart
        self.logging_as = logging_as
        self.batch = batch
        self._by_key = {t.key: t for t in targets}
        self._workers = [_Worker(i, share) for i, share in enumerate(shares(targets, count))]
        self._lateness = [0.0] * count
        self._results: collections.deque[tuple[Key, ProbeResult]] = collections.deque()
        self._lock = threading.Lock()  # a worker's process and pipes: restart and retarget
        self._stopping = threading.Event()
        self._main: asyncio.AbstractEventLoop | None = None
        self._context = multiprocessing.get_context("forkserver")

    @property
    def lag(self) -> float:
        """How late the latest batch of any worker said its loop started a probe, seconds."""
        return max(self._lateness, default=0.0)

    @property
    def pids(self) -> list[int | None]:
        return [w.process.pid if w.process is not None else None for w in self._workers]

    async def start(self) -> None:
        main = self._main = asyncio.get_running_loop()
        self._context.set_forkserver_preload([work.__module__])
        ready = [main.create_future() for _ in self._workers]
        for worker, started in zip(self._workers, ready, strict=True):
            self._launch(worker)
            worker.thread = threading.Thread(
                target=self._read,
                args=(worker, started),
                name=f"outagewatch-probe-worker-{worker.index}",
                daemon=True,
            )
            worker.thread.start()
        try:
            async with asyncio.timeout(START_TIMEOUT):
                await asyncio.gather(*ready)
        except BaseException:
            await self.stop()
            raise

    def _launch(self, worker: _Worker) -> None:
        results, their_results = self._context.Pipe(duplex=False)
        their_control, control = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=work,
            args=(worker.index, worker.share, their_results, their_control, self.logging_as),
            name=f"outagewatch-probes-{worker.index}",
            daemon=True,
        )
        process.start()
        their_results.close()  # the worker's ends: its death must close the pipes
        their_control.close()
        worker.process, worker.control, worker.results = process, control, results
        worker.seq, worker.started_at = 0, time.monotonic()

    def _read(self, worker: _Worker, started: asyncio.Future[None]) -> None:
        """A worker's batches until the daemon stops, through each restart of it."""
        main = self._main
        assert main is not None
        while True:
            assert worker.results is not None
            try:
                data = worker.results.recv_bytes()
            except (EOFError, OSError):
                if self._stopping.is_set() or not self._restart(worker, started):
                    return
                continue
            batch = pickle.loads(data)  # noqa: S301 - our own worker is the pipe's one writer
            if self._take(worker, batch) and not started.done():
                main.call_soon_threadsafe(settle, started, None)

    def _take(self, worker: _Worker, batch: Batch) -> bool:
        """Queue a batch's results; True for a worker's first word (sequence 0: probing)."""
        seq, lateness, results = batch
        if seq == 0:
            return True
        if seq <= worker.seq:
            log.error("probe worker %d sent batch %d again: dropped", worker.index, seq)
            return False
        if seq > worker.seq + 1:
            log.error("probe worker %d: batches %d to %d missing", worker.index, worker.seq + 1,
                      seq - 1)  # fmt: skip
        worker.seq = seq
        self._lateness[worker.index] = lateness
        before = len(self._results)
        self._results.extend(results)
        if self.on_batch is not None and before < self.batch <= len(self._results):
            assert self._main is not None
            self._main.call_soon_threadsafe(self.on_batch)
        return False

    def _restart(self, worker: _Worker, started: asyncio.Future[None]) -> bool:
        """The worker's pipe closed while the daemon runs: it died. Start it again; False
        when it died before it ever probed (the daemon's start fails instead)."""
        assert worker.process is not None and self._main is not None
        worker.process.join(STOP_TIMEOUT)
        code = worker.process.exitcode
        if not started.done():
            failure = RuntimeError(f"probe worker {worker.index} exited at start (code {code})")
            self._main.call_soon_threadsafe(settle, started, failure)
            return False
        log.warning(
            "probe worker %d (pid %s) died (exit code %s); starting it again with its %d services",
            worker.index, worker.process.pid, code, len(worker.share),
        )  # fmt: skip
        if self.on_restart is not None:
            self.on_restart(worker.index)
        if time.monotonic() - worker.started_at < YOUNG:
            self._stopping.wait(YOUNG)  # a worker that cannot live must not spin
        with self._lock:
            if self._stopping.is_set():
                return False
            self._close(worker)
            self._launch(worker)
        return True

    def drain(self) -> int:
        """On the daemon's loop: hand every queued result to the sink; how many there were.
        A result of a service a reload removed is dropped."""
        count = 0
        while self._results:
            key, result = self._results.popleft()
            target = self._by_key.get(key)
            if target is not None:
                self.sink(target, result)
                count += 1
        return count

    def retarget(self, targets: list[Target]) -> None:
        """A reloaded config: each worker gets its new share (`Prober.retarget` there)."""
        self._by_key = {t.key: t for t in targets}
        for worker, share in zip(self._workers, shares(targets, len(self._workers)), strict=True):
            with self._lock:
                worker.share = share
                self._tell(worker, ("targets", share))  # a dead one starts with it

    async def stop(self) -> None:
        """Stop every worker (their probes in flight are cancelled) and take what they sent."""
        self._stopping.set()
        for worker in self._workers:
            with self._lock:
                self._tell(worker, ("stop", []))
        await asyncio.to_thread(self._join)
        self.drain()

    def _join(self) -> None:
        for worker in self._workers:
            if worker.thread is not None:
                worker.thread.join(STOP_TIMEOUT)
            if worker.process is not None:
                worker.process.join(STOP_TIMEOUT)
                if worker.process.is_alive():
                    log.warning("probe worker %d did not stop: killed", worker.index)
                    worker.process.kill()
                    worker.process.join()
            if worker.thread is not None:
                worker.thread.join()
            self._close(worker)

    @staticmethod
    def _tell(worker: _Worker, message: tuple[str, list[Target]]) -> None:
        if worker.control is None:
            return
        with contextlib.suppress(OSError):  # it died: its reader starts it with its share
            worker.control.send(message)

    @staticmethod
    def _close(worker: _Worker) -> None:
        for pipe in (worker.control, worker.results):
            if pipe is not None:
                pipe.close()


def probes_for(
    config: Config,
    targets: list[Target],
    sink: Sink,
    metrics: Metrics,
    on_batch: Callable[[], None],
) -> ProbeLoop | ProbeWorkers:
    """The daemon's probes as ``probe_workers`` says: worker processes, or (0) a thread."""
    count = config.probe_worker_count
    if count == 0:
        return ProbeLoop(targets, sink, on_batch=on_batch)
    restarts = metrics.probe_worker_restarts
    for index in range(count):
        restarts.labels(str(index))  # at 0 from the start: rate() misses a first increment
    return ProbeWorkers(
        targets,
        sink,
        count,
        on_batch=on_batch,
        on_restart=lambda index: restarts.labels(str(index)).inc(),
        logging_as=(config.log_format, config.log_level),
    )
