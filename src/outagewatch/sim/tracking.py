"""Connection records and the bookkeeping that lets a simulator stop without leaks."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import deque
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Enough for a long benchmark run; old records fall off so a soak test cannot grow memory.
MAX_RECORDS = 10_000
# A connection that is aborted reports its loss within a few loop iterations; this bound only
# keeps stop() from hanging forever on a bug.
STOP_TIMEOUT = 5.0


@dataclass(eq=False)
class ConnectionRecord:
    """One accepted connection, in `time.perf_counter()` seconds.

    ``accepted_at`` is taken right after ``accept()``, before any TLS handshake, so that a
    benchmark can compare a client's measured duration with the server's own view.
    ``closed_at`` stays None while the connection is open.
    """

    accepted_at: float
    closed_at: float | None = None

    @property
    def duration(self) -> float | None:
        return None if self.closed_at is None else self.closed_at - self.accepted_at


class ConnectionTracker:
    """Records connections, owns the tasks serving them, and tears both down on stop.

    Protocol objects call `attach` when their transport exists and `closed` from
    ``connection_lost``; `closed` is idempotent because several layers may report one loss.
    """

    def __init__(self, max_records: int = MAX_RECORDS) -> None:
        self.records: deque[ConnectionRecord] = deque(maxlen=max_records)
        # An open connection is its raw socket until a protocol attaches its transport.
        self._open: dict[ConnectionRecord, asyncio.BaseTransport | socket.socket] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.accepted = 0  # all connections ever accepted; `records` keeps only the last ones
        self._accept_waiters: list[tuple[int, asyncio.Future[None]]] = []

    @property
    def open_count(self) -> int:
        return len(self._open)

    def opened(self, sock: socket.socket) -> ConnectionRecord:
        record = ConnectionRecord(accepted_at=time.perf_counter())
        self.records.append(record)
        self._open[record] = sock
        self._idle.clear()
        self.accepted += 1
        for count, waiter in self._accept_waiters:
            if count <= self.accepted and not waiter.done():
                waiter.set_result(None)
        return record

    async def wait_accepted(self, count: int) -> None:
        if self.accepted >= count:
            return
        entry = (count, asyncio.get_running_loop().create_future())
        self._accept_waiters.append(entry)
        try:
            await entry[1]
        finally:
            self._accept_waiters.remove(entry)

    def attach(self, record: ConnectionRecord, transport: asyncio.BaseTransport) -> None:
        if record in self._open:
            self._open[record] = transport

    def closed(self, record: ConnectionRecord) -> None:
        if record.closed_at is None:
            record.closed_at = time.perf_counter()
        self._open.pop(record, None)
        if not self._open:
            self._idle.set()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self.adopt(task)
        return task

    def adopt(self, task: asyncio.Task[Any]) -> None:
        """Take charge of a task a library created for a connection, so stop() awaits it."""
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("a connection task ended with %r", exc)

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def close_all(self) -> None:
        """Abort every connection and end every task; returns when nothing is left."""
        for transport in list(self._open.values()):
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
            elif isinstance(transport, asyncio.BaseTransport):
                transport.close()
        # Cancelling a task still in a TLS handshake closes its transport.
        await self._end_tasks()
        # A task cancelled before it ever ran never created a transport for its socket.
        for record, sock in list(self._open.items()):
            if isinstance(sock, socket.socket):
                sock.close()
                self.closed(record)
        try:
            await asyncio.wait_for(self._idle.wait(), STOP_TIMEOUT)
        except TimeoutError:
            log.warning("%d connection(s) did not report their close in time", len(self._open))
        # connection_lost() may have handed over more tasks (aiohttp's): end those as well.
        await self._end_tasks()
        # Aborted transports close their sockets in callbacks scheduled with call_soon.
        await asyncio.sleep(0)

    async def _end_tasks(self) -> None:
        while self._tasks:
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
