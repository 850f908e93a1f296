"""Runs one probe under its time limit and turns whatever happened into a ProbeResult."""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from outagewatch.config import Service
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure, ProbeResult
from outagewatch.text import one_line
from outagewatch.tls.facts import VERIFY_ERRORS, TlsFacts, most_urgent, tls_facts
from outagewatch.tls.handshake import handshake_of_error


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    mechanism: str | None = None  # "plain" or "login"; None lets the probe choose
    # The round trip logs in twice: these are the mailbox's, ``submit`` the submission's.
    submit: Credentials | None = None

    def __repr__(self) -> str:  # never let a password reach a log through a repr
        return f"Credentials(username={self.username!r}, password='***')"

    @property
    def all(self) -> list[Credentials]:
        return [self, *(self.submit.all if self.submit else [])]


ProtocolTransaction = Callable[[Any, Credentials | None, PhaseTimer], Awaitable[str]]
"""A protocol transaction: raises ProbeFailure (or lets a library error out) when the
service fails, returns a short detail when it works. It closes what it opened."""


async def run_probe(
    probe: ProtocolTransaction,
    service: Service,
    *,
    limit: float,
    credentials: Credentials | None = None,
) -> ProbeResult:
    timer = PhaseTimer()
    kind: ErrorKind | None = None
    failure: BaseException | None = None
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(limit) as deadline:
            # The server gets the whole limit from the transaction's first step, where the
            # stopwatch starts: local set-up before it (a TLS context on a busy host) would
            # otherwise shorten the server's time and report a timeout under the limit.
            timer.on_start = lambda: deadline.reschedule(loop.time() + limit)
            detail = await probe(service, credentials, timer)
    except TimeoutError:
        kind = ErrorKind.TIMEOUT
        detail = f"no complete answer within {limit:g}s"
    except ProbeFailure as exc:
        kind, detail = exc.kind, exc.detail
        failure = exc
    except Exception as exc:  # a probe turns every failure into a sample
        kind, detail = classify(exc)
        failure = exc
    phase = timer.current
    duration = timer.finish()
    # When the transaction began (the timer's first phase, after local set-up): a sample's
    # started_at + duration is then the moment it ended.
    started_at = datetime.now(UTC) - timedelta(seconds=duration)
    tls = _certificates(timer, failure)  # parsing the chain comes after the clock stopped
    if kind is not None and phase is not None:
        detail = f"{detail} (during {phase})"
    return ProbeResult(
        started_at=started_at,
        duration=duration,
        ok=kind is None,
        error_kind=kind,
        phases=dict(timer.phases),
        detail=scrub(one_line(detail), credentials),
        tls=tls,
    )


def _certificates(timer: PhaseTimer, failure: BaseException | None) -> TlsFacts | None:
    handshakes = list(timer.handshakes)
    rejected = handshake_of_error(failure)
    if rejected is not None:
        handshakes.append(rejected)
    parsed = [tls_facts(h) for h in handshakes]
    return most_urgent([facts for facts in parsed if facts is not None])


def classify(exc: BaseException) -> tuple[ErrorKind, str]:
    """Library and OS errors that no probe module caught itself."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        named = VERIFY_ERRORS.get(exc.verify_code)
        reason = exc.verify_message or exc.reason
        return ErrorKind.TLS, f"certificate rejected{f' ({named})' if named else ''}: {reason}"
    if isinstance(exc, ssl.SSLError):
        return ErrorKind.TLS, f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return ErrorKind.REFUSED, "connection refused"
    if isinstance(exc, (ConnectionError, asyncio.IncompleteReadError, EOFError)):
        return ErrorKind.PROTOCOL, "the server closed the connection"
    if isinstance(exc, (asyncio.LimitOverrunError, ValueError)) and "limit" in str(exc):
        return ErrorKind.PROTOCOL, "the server sent a line longer than the protocol allows"
    if isinstance(exc, OSError):
        return ErrorKind.PROTOCOL, f"connection failed: {exc.strerror or exc}"
    return ErrorKind.UNEXPECTED, f"{type(exc).__name__}: {exc}"


def scrub(text: str, credentials: Credentials | None) -> str:
    """Belt and braces: no password, plain or in its SASL base64 forms, leaves a probe."""
    for each in credentials.all if credentials is not None else []:
        secret = each.password
        if not secret:
            continue
        forms = {
            secret,
            base64.b64encode(secret.encode()).decode(),
            base64.b64encode(f"\0{each.username}\0{secret}".encode()).decode(),
        }
        for form in forms:
            text = text.replace(form, "***")
    return text
