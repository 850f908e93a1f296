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
import hashlib
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import jinja2
from aiohttp import web
from sqlalchemy import String, cast, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from outagewatch.store.tables import incidents, maintenances, notifications
from outagewatch.web.render import SECURITY_HEADERS

T = TypeVar("T")

MAX_AGE = 30.0  # seconds
MAX_BYTES = 64 * 2**20  # about 1,400 platform pages of 45 KB; the oldest go first


@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str
    content_type: str


def rendered(body: bytes, content_type: str) -> Rendered:
    return Rendered(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', content_type)


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


async def platform_signature(conn: AsyncConnection, platform: str | None) -> tuple[object, ...]:
    """What changes when an incident or a maintenance window of ``platform`` (or of any
    platform, for None) is opened, changed or removed: one row of aggregates."""
    parts = []
    for table in (incidents, maintenances):
        query = select(func.count(), func.max(table.c.id), func.sum(table.c.version))
        if platform is not None:
            query = query.where(table.c.platform == platform)
        parts.append(query.subquery())
    both = parts[0].join(parts[1], true())  # two rows of one: their product is one row
    row = (await conn.execute(select(both))).one()
    return tuple(row)


async def mails_signature(conn: AsyncConnection, platform: str) -> tuple[object, ...]:
    """What changes when a customer mail of one of the platform's incidents goes out (the
    page shows the mails as sent): read through the outbox's index on the thread."""
    threads = select(literal("incident:") + cast(incidents.c.id, String)).where(
        incidents.c.platform == platform
    )
    query = select(func.count(), func.max(notifications.c.id)).where(
        notifications.c.thread.in_(threads.scalar_subquery()),
        notifications.c.state == "sent",
        notifications.c.audience == "customer",
    )
    return tuple((await conn.execute(query)).one())


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
    """The page with its strong ETag; 304 when the client has it already."""
    headers = {"ETag": page.etag, "Cache-Control": "no-cache", **SECURITY_HEADERS}
    asked = request.headers.get("If-None-Match", "")
    if page.etag in {t.strip() for t in asked.split(",")} or asked.strip() == "*":
        return web.Response(status=304, headers=headers)
    response = web.Response(body=page.body, headers=headers)
    response.content_type = page.content_type
    response.charset = "utf-8"
    return response
