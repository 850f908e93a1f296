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
from outagewatch.probes.text import one_line


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never let a password reach a log through a repr
        return f"Credentials(username={self.username!r}, password='***')"


ProbeFn = Callable[[Any, Credentials | None, PhaseTimer], Awaitable[str]]
"""A protocol transaction: raises ProbeFailure (or lets a library error out) when the
service fails, returns a short detail when it works. It closes what it opened."""


async def run_probe(
    probe: ProbeFn,
    service: Service,
    *,
    limit: float,
    credentials: Credentials | None = None,
) -> ProbeResult:
    timer = PhaseTimer()
    kind: ErrorKind | None = None
    try:
        async with asyncio.timeout(limit):
            detail = await probe(service, credentials, timer)
    except TimeoutError:
        kind = ErrorKind.TIMEOUT
        detail = f"no complete answer within {limit:g}s"
    except ProbeFailure as exc:
        kind, detail = exc.kind, exc.detail
    except Exception as exc:  # a probe turns every failure into a sample
        kind, detail = classify(exc)
    phase = timer.current
    duration = timer.finish()
    # When the transaction began (the timer's first phase, after local set-up): a sample's
    # started_at + duration is then the moment it ended.
    started_at = datetime.now(UTC) - timedelta(seconds=duration)
    if kind is not None and phase is not None:
        detail = f"{detail} (during {phase})"
    return ProbeResult(
        started_at=started_at,
        duration=duration,
        ok=kind is None,
        error_kind=kind,
        phases=dict(timer.phases),
        detail=scrub(one_line(detail), credentials),
    )


def classify(exc: BaseException) -> tuple[ErrorKind, str]:
    """Library and OS errors that no probe module caught itself."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ErrorKind.TLS, f"certificate rejected: {exc.verify_message or exc.reason}"
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
    if credentials is None or not credentials.password:
        return text
    secret = credentials.password
    forms = {
        secret,
        base64.b64encode(secret.encode()).decode(),
        base64.b64encode(f"\0{credentials.username}\0{secret}".encode()).decode(),
    }
    for form in forms:
        text = text.replace(form, "***")
    return text
