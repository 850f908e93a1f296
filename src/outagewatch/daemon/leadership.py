"""Who runs detection, incidents, maintenance and the outbox: one leader at a time.

On PostgreSQL every instance probes and writes samples; the leader is the instance that
holds an advisory lock on a connection of its own. The lock frees the moment that session
ends (the process died, the network or the database dropped it), and a standby that asks
every few seconds takes over. A leader whose lock connection stops answering steps down at
once: two leaders for a moment are harmless (transitions are unique, incident writes and
outbox claims are compare-and-set) but not wanted.

On SQLite there is one instance: it leads, and a lock file next to the database keeps a
second one from starting on the same file.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger("outagewatch.leadership")
LOCK_KEY = 0x6F77_6C65  # "owle": one advisory lock per database, whatever the schema
HEALTH_TIMEOUT = 2.0


class InstanceConflict(Exception):
    """Another instance already runs on this SQLite database."""


class Leadership:
    is_leader: bool = False

    async def step(self, now: datetime) -> bool:
        """Try to become leader or check that we still are; True when that changed."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class SqliteLeadership(Leadership):
    def __init__(self, database: str) -> None:
        self.path = Path(database + ".lock")
        self._file: IO[str] | None = None

    async def step(self, now: datetime) -> bool:
        if self.is_leader:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise InstanceConflict(
                f"another outagewatch instance (pid {holder}) uses this SQLite database; "
                "several instances need PostgreSQL (see DESIGN section 7)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        self.is_leader = True
        return True

    async def close(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        self.is_leader = False


class PostgresLeadership(Leadership):
    def __init__(self, url: str, vantage: str, takeover: timedelta) -> None:
        parsed = make_url(url)
        self.dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
        self.name = f"outagewatch-leader-{vantage}"
        # Ask often enough that a free lock is taken well within leader_takeover.
        self.retry = max(timedelta(milliseconds=200), takeover / 5)
        self._conn: asyncpg.Connection | None = None
        self._next_try: datetime | None = None

    async def step(self, now: datetime) -> bool:
        if self.is_leader:
            if await self._healthy():
                return False
            log.error("lost the leader lock (its database connection failed); standing by")
            await self._drop()
            self.is_leader = False
            return True
        if self._next_try is not None and now < self._next_try:
            return False
        self._next_try = now + self.retry
        # Imported here: a SQLite daemon never loads the PostgreSQL driver (3 MB).
        import asyncpg

        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(
                    self.dsn,
                    timeout=HEALTH_TIMEOUT,
                    server_settings={"application_name": self.name},
                )
            got = await asyncio.wait_for(
                self._conn.fetchval("SELECT pg_try_advisory_lock($1)", LOCK_KEY), HEALTH_TIMEOUT
            )
        except (OSError, asyncpg.PostgresError, TimeoutError, asyncpg.InterfaceError) as exc:
            log.warning("cannot reach the database for the leader lock: %s", type(exc).__name__)
            await self._drop()
            return False
        if got:
            log.warning("this instance is now the leader")
            self.is_leader = True
            return True
        return False

    async def _healthy(self) -> bool:
        import asyncpg

        if self._conn is None or self._conn.is_closed():
            return False
        try:
            await asyncio.wait_for(self._conn.fetchval("SELECT 1"), HEALTH_TIMEOUT)
        except (OSError, asyncpg.PostgresError, TimeoutError, asyncpg.InterfaceError):
            return False
        return True

    async def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.terminate()  # no goodbye: the session (and with it the lock) ends now

    async def close(self) -> None:
        await self._drop()
        self.is_leader = False


def leadership_for(database: str, vantage: str, takeover: timedelta) -> Leadership:
    url = make_url(database)
    if url.get_backend_name() == "sqlite":
        return SqliteLeadership(url.database or ":memory:")
    return PostgresLeadership(database, vantage, takeover)
