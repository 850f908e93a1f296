"""Rendered public pages, kept until what they show changes.

A page is keyed by everything it shows that can change: the read model's version of the
platform (a service's state), the platform's incidents and maintenance windows (their count,
newest id and the sum of their compare-and-set versions: any change moves one), the
customer mails sent, the hourly roll-ups and the day. A few things move with time alone
(the bar of today grows; an instance that does not lead learns of samples only from the
store): a page is also rendered again once it is ``MAX_AGE`` old. So a page is rendered at
most once per change or per ``MAX_AGE``, however many visitors ask, and one render serves
all of those waiting for it (a lock per stripe of pages).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import jinja2
from aiohttp import web
from sqlalchemy import FromClause, String, cast, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.store.tables import incidents, maintenances, notifications, rollups
from outagewatch.web.render import SECURITY_HEADERS

T = TypeVar("T")
Aggregate = Any  # a select of one row (SQLAlchemy's Select types it by its columns)

MAX_AGE = 30.0  # seconds
MAX_BYTES = 64 * 2**20  # about 1,400 platform pages of 45 KB; the oldest go first


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str
    content_type: str
    gzipped: bytes  # the body compressed once, for every client that accepts gzip


def rendered(body: bytes, content_type: str) -> Rendered:
    """A page as served: called where it is rendered (off the loop), so that the hash and
    the compression are paid once per render, not per request."""
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Rendered(body, tag, content_type, gzip.compress(body, compresslevel=6, mtime=0))


class PageCache:
    def __init__(self, max_age: float = MAX_AGE, clock: Callable[[], float] = time.monotonic):
        self.max_age = max_age
        self.clock = clock
        self.renders = 0  # how many pages were rendered (the tests count them)
        self.size = 0  # bytes of the pages kept
        self._pages: dict[str, tuple[Hashable, float, Rendered]] = {}
        # One render at a time per stripe of names: bounded, whatever names are asked for.
        self._locks = [asyncio.Lock() for _ in range(64)]

    async def get(
        self, name: str, key: Hashable, render: Callable[[], Awaitable[Rendered]]
    ) -> Rendered:
        found = self._fresh(name, key)
        if found is not None:
            return found
        async with self._locks[hash(name) % len(self._locks)]:
            found = self._fresh(name, key)  # rendered while this request waited
            if found is not None:
                return found
            page = await render()
            self.renders += 1
            self._keep(name, key, page)
            return page

    def _keep(self, name: str, key: Hashable, page: Rendered) -> None:
        old = self._pages.pop(name, None)
        self.size += len(page.body) - (len(old[2].body) if old else 0)
        self._pages[name] = (key, self.clock(), page)  # the newest last
        while self.size > MAX_BYTES and len(self._pages) > 1:
            _, (_, _, dropped) = next(iter(self._pages.items()))
            self._pages.pop(next(iter(self._pages)))
            self.size -= len(dropped.body)

    def _fresh(self, name: str, key: Hashable) -> Rendered | None:
        cached = self._pages.get(name)
        if cached is None or cached[0] != key or self.clock() - cached[1] > self.max_age:
            return None
        return cached[2]


def _changes(platform: str | None) -> list[Aggregate]:
    """Aggregates that move when an incident or a maintenance window of ``platform`` (of
    any, for None) is opened, changed or removed."""
    found = []
    for table in (incidents, maintenances):
        query = select(func.count(), func.max(table.c.id), func.sum(table.c.version))
        if platform is not None:
            query = query.where(table.c.platform == platform)
        found.append(query)
    return found


def _mails(platform: str) -> Aggregate:
    """Aggregates that move when a customer mail of one of the platform's incidents goes out
    (the page shows the mails as sent), read through the outbox's index on the thread."""
    threads = select(literal("incident:") + cast(incidents.c.id, String)).where(
        incidents.c.platform == platform
    )
    return select(func.count(), func.max(notifications.c.id)).where(
        notifications.c.thread.in_(threads.scalar_subquery()),
        notifications.c.state == "sent",
        notifications.c.audience == "customer",
    )


def _rollups(platform: str, since: datetime) -> Aggregate:
    """The newest rolled-up hour and the number of roll-ups since ``since`` (the housekeeper
    writes them once an hour)."""
    return select(func.max(rollups.c.hour), func.count()).where(
        rollups.c.platform == platform, rollups.c.hour >= since
    )


async def _one_row(conn: AsyncConnection, parts: list[Aggregate]) -> tuple[object, ...]:
    """Several one-row aggregates in one statement (one round trip: a busy SQLite answers
    statements one at a time)."""
    joined: FromClause = parts[0].subquery()
    for part in parts[1:]:
        joined = joined.join(part.subquery(), true())  # rows of one: the product is one row
    return tuple((await conn.execute(select(joined))).one())


async def platform_signature(
    conn: AsyncConnection, platform: str, since: datetime
) -> tuple[object, ...]:
    """Everything a platform's page shows that the store changes, in one statement."""
    return await _one_row(conn, [*_changes(platform), _mails(platform), _rollups(platform, since)])


async def estate_signature(conn: AsyncConnection) -> tuple[object, ...]:
    """What the overview shows that the store changes: the incidents and windows."""
    return await _one_row(conn, _changes(None))


def day_of(now: datetime) -> str:
    return now.date().isoformat()


class Abandoned(Exception):
    """The daemon stops: a page being rendered is not finished."""


class Renders:
    """Shaping and rendering off the event loop (the loop is the probes' stopwatch), in a
    way a stop can abandon: the work checks ``stopped`` as it goes, so that a stopping
    daemon does not wait for a large page nobody will receive."""

    def __init__(self) -> None:
        self.stopped = threading.Event()

    def check(self) -> None:
        if self.stopped.is_set():
            raise Abandoned

    async def run(self, work: Callable[[], T]) -> T:
        self.check()
        return await asyncio.to_thread(work)

    def template(self, template: jinja2.Template, context: dict[str, Any]) -> str:
        return "".join(self._checked(template.generate(**context)))

    def _checked(self, chunks: Iterator[str]) -> Iterator[str]:
        for chunk in chunks:
            self.check()
            yield chunk


def respond(request: web.Request, page: Rendered) -> web.Response:
    """The page with its strong ETag (one per encoding); 304 when the client has it
    already. Gzip when the client accepts it: a large platform's page is a tenth of the
    bytes the loop writes."""
    packed = "gzip" in request.headers.get("Accept-Encoding", "")
    tag = page.etag[:-1] + '-gz"' if packed else page.etag
    headers = {"ETag": tag, "Cache-Control": "no-cache", "Vary": "Accept-Encoding",
               **SECURITY_HEADERS}  # fmt: skip
    asked = request.headers.get("If-None-Match", "")
    if tag in {t.strip() for t in asked.split(",")} or asked.strip() == "*":
        return web.Response(status=304, headers=headers)
    if packed:
        headers["Content-Encoding"] = "gzip"
    response = web.Response(body=page.gzipped if packed else page.body, headers=headers)
    response.content_type = page.content_type
    response.charset = "utf-8"
    return response
