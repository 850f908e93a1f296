"""What went wrong with the database, said in one line: which database (never its password),
what failed, and what to do. Every command that opens the database and the daemon's start
speak through here, so that "PostgreSQL is down" reads the same everywhere.

The drivers raise very different things for the same trouble (an ``OSError`` from asyncpg's
connect, a ``DBAPIError`` wrapping an asyncpg error with a SQLSTATE, a ``sqlite3`` error with
only a message), so the classification walks the whole chain of causes.
"""

from __future__ import annotations

import errno
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

MIGRATE = "run 'outagewatch db upgrade -c FILE'"


class DatabaseProblem(Exception):
    """An anticipated database failure. ``transient`` ones (not answering yet, the database
    not created yet) are worth waiting for; the others need someone to change something."""

    def __init__(self, url: str | URL, what: str, todo: str, *, transient: bool) -> None:
        self.database = masked(url)
        self.what, self.todo, self.transient = what, todo, transient
        # "not migrated (relation "samples" ...)" and "(relation "outbox" ...)" are one
        # trouble: the kind leaves out the driver's words in brackets.
        self.kind = what.split(" (", 1)[0]
        super().__init__(f"database {self.database}: {what}; {todo}")


def masked(url: str | URL) -> str:
    """The URL as an operator wrote it, with any password replaced by ***."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "(unparsable URL)"
    return parsed.render_as_string(hide_password=True)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [getattr(current, "orig", None), current.__cause__]
        if not current.__suppress_context__:  # "raise X from None" cut that link on purpose
            todo.append(current.__context__)


def classify(exc: BaseException, url: str | URL) -> DatabaseProblem | None:
    """The one-line problem ``exc`` stands for, or None when it is not a database failure
    this module knows (a bug, which should keep its traceback)."""
    for cause in _causes(exc):
        if isinstance(cause, DatabaseProblem):
            return cause
        found = _by_sqlstate(cause, url) or _by_sqlite(cause, url) or _by_os(cause, url)
        if found is not None:
            return found
    return None


def _by_sqlstate(cause: BaseException, url: str | URL) -> DatabaseProblem | None:
    state = getattr(cause, "sqlstate", None)
    if not isinstance(state, str):
        return None
    said = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    if state.startswith("28"):  # invalid authorization: wrong password, unknown role
        return DatabaseProblem(
            url,
            f"refused the login ({said})",
            "check the user in the URL and its password (PGPASSWORD or the URL)",
            transient=False,
        )
    if state == "3D000":  # the database does not exist (yet: compose may still create it)
        return DatabaseProblem(
            url, said, "create it (createdb) or correct database: in the config", transient=True
        )
    if state in ("57P03", "53300") or state.startswith("08"):  # starting up, full, cut off
        return DatabaseProblem(url, f"not available ({said})", "waiting helps", transient=True)
    if state == "42P01":  # undefined table
        return DatabaseProblem(url, f"not migrated ({said})", MIGRATE, transient=False)
    if state == "42501":
        return DatabaseProblem(
            url, f"permission denied ({said})", "grant the user its rights", transient=False
        )
    return None


def _by_sqlite(cause: BaseException, url: str | URL) -> DatabaseProblem | None:
    if not isinstance(cause, sqlite3.DatabaseError):
        return None
    said = str(cause)
    if "no such table" in said:
        return DatabaseProblem(url, f"not migrated ({said})", MIGRATE, transient=False)
    if "database is locked" in said:
        return DatabaseProblem(url, said, "another process holds it; waiting helps", transient=True)
    if "unable to open" in said or "readonly" in said:
        return DatabaseProblem(
            url,
            f"cannot open the file ({said})",
            "check the path and that this user may write the file and its directory",
            transient=False,
        )
    if "not a database" in said:
        return DatabaseProblem(
            url, said, "database: must name an outagewatch SQLite file", transient=False
        )
    return None


UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}


def _by_os(cause: BaseException, url: str | URL) -> DatabaseProblem | None:
    # Refused, reset, timed out, name unknown, no route: the network's ways of not answering.
    if not isinstance(cause, OSError):
        return None
    network = (ConnectionError, TimeoutError, socket.gaierror)
    if not isinstance(cause, network) and cause.errno not in UNREACHABLE:
        return None
    said = cause.strerror or str(cause) or type(cause).__name__
    return DatabaseProblem(
        url,
        f"does not answer ({said})",
        "check that the database server runs and that host and port are right",
        transient=True,
    )


@contextmanager
def said_in_one_line(url: str | URL) -> Iterator[None]:
    """Turn any known database failure inside the block into a ``DatabaseProblem``."""
    try:
        yield
    except DatabaseProblem:
        raise
    except Exception as exc:
        problem = classify(exc, url)
        if problem is None:
            raise
        raise problem from exc
