"""Pairs each probe a tool measured with the simulator's record of that connection.

A tool reports, per probe, the duration it measured and what bounds its start and its end;
the simulator reports, per connection, when it accepted it and when it saw it closed (all
perf_counter seconds, which on Linux are CLOCK_MONOTONIC and so shared by the processes).

* outagewatch: the probe's clock stopped just before its result was handed over, so its
  start and end are known to the microsecond: ``end - duration`` and ``end``.
* blackbox_exporter: the probe ran between the harness's request and the answer: it began
  between ``sent`` and ``received - duration``, and ended between ``sent + duration`` and
  ``received``.

A connection belongs to a probe of its server when it was accepted after the probe began
and closed when it ended (the client closes it; the server sees that a moment later): of the
free records whose accept and close fall in the probe's span, the one nearest to the
bounds at both ends is taken, probes in order of start. A client whose event loop is busy
may connect well after its clock started: its accept is then late, its close is still on
time, and the pairing holds.

The timing error of a probe is its measured duration minus the server's accept-to-close:
what the tool added to the physical time of the transaction, whose injected latency is part
of that physical time.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass

# How late the simulator may see a close, or how early an accept may be stamped, relative
# to the client's clock (loopback: tens of microseconds; a busy simulator: milliseconds).
SLACK = 0.02


@dataclass(frozen=True)
class Measured:
    """One probe as a tool saw it, with the bounds of its start and its end."""

    server: str
    start_low: float
    start_high: float
    end_low: float
    end_high: float
    duration: float

    @classmethod
    def exact(cls, server: str, end: float, duration: float) -> Measured:
        return cls(server, end - duration, end - duration, end, end, duration)

    @classmethod
    def within(cls, server: str, sent: float, received: float, duration: float) -> Measured:
        latest_start = max(sent, received - duration)
        return cls(server, sent, latest_start, min(received, sent + duration), received, duration)


@dataclass(frozen=True)
class Pairing:
    errors: list[float]  # seconds, tool duration minus server accept-to-close
    server_durations: list[float]
    unmatched: int


def pair(measured: list[Measured], records: dict[str, list[tuple[float, float]]]) -> Pairing:
    by_server: dict[str, list[Measured]] = defaultdict(list)
    for probe in measured:
        by_server[probe.server].append(probe)
    errors: list[float] = []
    server_durations: list[float] = []
    unmatched = 0
    for server, probes in by_server.items():
        recs = sorted(records.get(server, []))
        accepts = [accepted for accepted, _ in recs]
        taken = [False] * len(recs)
        for probe in sorted(probes, key=lambda p: p.start_low):
            index = _best_free(recs, accepts, taken, probe)
            if index is None:
                unmatched += 1
                continue
            taken[index] = True
            accepted, closed = recs[index]
            server_durations.append(closed - accepted)
            errors.append(probe.duration - (closed - accepted))
    return Pairing(errors, server_durations, unmatched)


def _best_free(
    recs: list[tuple[float, float]], accepts: list[float], taken: list[bool], probe: Measured
) -> int | None:
    best: int | None = None
    best_cost = float("inf")
    i = bisect.bisect_left(accepts, probe.start_low - SLACK)
    while i < len(recs) and recs[i][0] <= probe.end_high:
        accepted, closed = recs[i]
        if not taken[i] and probe.end_low - SLACK <= closed <= probe.end_high + SLACK:
            cost = _outside(accepted, probe.start_low, probe.start_high) + _outside(
                closed, probe.end_low, probe.end_high
            )
            if cost < best_cost:
                best, best_cost = i, cost
        i += 1
    return best


def _outside(value: float, low: float, high: float) -> float:
    """How far ``value`` lies outside ``[low, high]`` (0 inside)."""
    return max(low - value, 0.0, value - high)
