"""Waiting for the database at start: ``outagewatch run`` started before PostgreSQL (compose,
a reboot) or while it restarts does not die; it says so once, retries with backoff, one line
per attempt, and starts when the database answers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.engine import URL

from outagewatch.store.errors import DatabaseProblem, masked, said_in_one_line

log = logging.getLogger("outagewatch.daemon")
# First retry after 1 s, doubling up to 30 s, for as long as it takes.
RETRY_FIRST, RETRY_CAP = 1.0, 30.0


async def until_database_answers(
    prepare: Callable[[], Awaitable[None]],
    url: URL,
    stopping: asyncio.Event,
    *,
    first: float = RETRY_FIRST,
    cap: float = RETRY_CAP,
) -> bool:
    """Run ``prepare`` (migrate, take the lead) until it gets through; False when
    ``stopping`` is set meanwhile. A problem waiting cannot mend (the password refused, a
    schema from a newer outagewatch) is raised at once."""
    delay, attempt = first, 0
    while True:
        try:
            with said_in_one_line(url):
                await prepare()
        except DatabaseProblem as problem:
            if not problem.transient:
                raise
            attempt += 1
            if attempt == 1:
                log.warning("%s; waiting for it: /healthz answers, /readyz says not ready", problem)
            log.warning(
                "database %s: %s; attempt %d failed, next in %g s",
                problem.database, problem.what, attempt, delay,
            )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
            if stopping.is_set():
                return False
            delay = min(delay * 2, cap)
            continue
        if attempt:
            log.warning("database %s answers after %d failed attempts", masked(url), attempt)
        return True
