"""The one result type every probe returns, and the clock that times its phases."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from outagewatch.tls.facts import TlsFacts
from outagewatch.tls.handshake import Handshake


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    REFUSED = "refused"
    DNS = "dns"
    TLS = "tls"
    PROTOCOL = "protocol"
    AUTH = "auth"
    UNEXPECTED = "unexpected"


class ProbeFailure(Exception):
    """A classified failure raised inside a probe; the runner turns it into a result."""

    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class ProbeResult:
    """One measurement of one service: a sample before it has a place in the store."""

    started_at: datetime
    duration: float
    ok: bool
    error_kind: ErrorKind | None
    phases: dict[str, float]
    detail: str
    tls: TlsFacts | None = None  # the certificate facts of its TLS handshake, if any

    def is_bad(self, slow_after: float) -> bool:
        """DESIGN section 3: a bad sample failed, or took longer than ``slow_after``."""
        return not self.ok or self.duration > slow_after

    def verdict(self, slow_after: float) -> str:
        if not self.ok:
            return f"failed ({self.error_kind})"
        return "slow" if self.duration > slow_after else "ok"


class PhaseTimer:
    """Times consecutive phases of one transaction.

    The phase in progress when the transaction ends (successfully, by an error or by the
    timeout) is closed then, so the phases always add up to the total and a failure is
    attributed to the phase it happened in.
    """

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        # Called once, when the clock starts: the runner moves the deadline there.
        self.on_start: Callable[[], None] | None = None
        self.current: str | None = None
        # The clock starts with the first phase: local set-up (building a TLS context, say)
        # is not something the user waits for, and must not blur the measurement.
        self._started: float | None = None
        self._phase_started = 0.0
        self._finished: float | None = None
        # Besides time, what the transaction saw of TLS: parsed after the clock stops.
        self.handshakes: list[Handshake] = []

    def saw_tls(self, handshake: Handshake | None) -> None:
        if handshake is not None:
            self.handshakes.append(handshake)

    def phase(self, name: str) -> None:
        """Close the phase in progress and begin ``name``."""
        now = time.perf_counter()
        if self._started is None:
            self._started = now
            if self.on_start is not None:
                self.on_start()
        self._close(now)
        self.current = name
        self._phase_started = now

    def finish(self) -> float:
        """Close the last phase and return the total duration in seconds."""
        if self._finished is None:
            self._finished = time.perf_counter()
            self._close(self._finished)
        return 0.0 if self._started is None else self._finished - self._started

    def _close(self, now: float) -> None:
        if self.current is not None:
            # A phase may recur (EHLO again after STARTTLS): its times add up.
            elapsed = now - self._phase_started
            self.phases[self.current] = self.phases.get(self.current, 0.0) + elapsed
