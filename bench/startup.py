"""Start-up of the daemon on a database with history: to the first probe, at 10,000 services.

The real ``Daemon`` starts in-process (API on, SQLite) on a database that already holds the
samples of ``SERVICES`` HTTP services. Fourteen days of them at 30 s would be 400 million
rows; what the start reads is the series table (one row per service and vantage), every
service's last transition, and the samples of the restore window (twice ``outage_after``
plus ``max_gap`` and ``probe_timeout``: 32.5 min by default). So the history written here is
``HISTORY`` of samples, twice that window, by a bulk insert; older rows would only deepen the
B-trees by a level. One service in a hundred is in outage (its transitions are stored).

Reported: the detector's restore, then its first judgement (reading and judging the restored
window) on their own, and the time from starting the daemon (migration check, leadership,
restore, API, scheduler) to its first probe result.

Run alone: ``python -m bench.startup [--services N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from outagewatch.config import Config, parse_config
from outagewatch.config.targets import Target
from outagewatch.daemon.process import Daemon
from outagewatch.probes import ProbeResult
from outagewatch.sim import HttpServer
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade
from outagewatch.store.tables import EPOCH, MILLISECOND

SERVICES = 10_000
HISTORY = timedelta(hours=1)
INTERVAL = timedelta(seconds=30)
PLATFORM, VANTAGE = "eu-de-1", "bench"
IN_OUTAGE_EVERY = 100
TIMEOUT = 300.0
STOP_WAIT = 30.0


@dataclass(frozen=True)
class StartupFigure:
    services: int
    history_rows: int
    write_seconds: float  # the bulk insert of the history (not part of the start)
    restore_seconds: float  # Detector.restore alone
    first_judgement_seconds: float  # then its first step: reads the window, judges
    first_probe_seconds: float  # Daemon.run() until the first probe result


def _config(database: Path, url: str, services: int) -> Config:
    return parse_config(
        {
            "vantage": VANTAGE,
            "database": f"sqlite+aiosqlite:///{database}",
            "api": {"listen": f"127.0.0.1:{free_port()}"},
            "platforms": {
                PLATFORM: {
                    "name": "OX Cloud EU de-1",
                    "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                    "services": {
                        f"web{n:05d}": {"protocol": "http", "url": url} for n in range(services)
                    },
                }
            },
        }
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ms(moment: datetime) -> int:
    return (moment - EPOCH) // MILLISECOND


def write_history(database: Path, services: int, now: datetime) -> int:
    """The history, written straight into the compact tables with sqlite3 (the bench's
    bulk insert; the daemon writes through store/samples.py)."""
    rounds = int(HISTORY / INTERVAL)
    start = now - HISTORY
    with sqlite3.connect(database) as conn:
        conn.executemany(
            "INSERT INTO series (id, platform, service, vantage, usual_detail, newest_id,"
            " newest_started_at) VALUES (?, ?, ?, ?, 'GET 200', ?, ?)",
            [
                (n + 1, PLATFORM, f"web{n:05d}", VANTAGE, (rounds - 1) * services + n + 1,
                 _ms(start + (rounds - 1) * INTERVAL))
                for n in range(services)
            ],
        )  # fmt: skip
        outage = {n for n in range(services) if n % IN_OUTAGE_EVERY == 0}
        conn.executemany(
            "INSERT INTO samples (id, started_at, series_id, duration, bad) VALUES (?, ?, ?, ?, ?)",
            (
                (r * services + n + 1, _ms(start + r * INTERVAL) + n % 30_000, n + 1,
                 31_000 if n in outage else 120, n in outage)
                for r in range(rounds)
                for n in range(services)
            ),
        )  # fmt: skip
        opened = start - timedelta(minutes=20)
        conn.executemany(
            "INSERT INTO transitions (platform, service, vantage, kind, started_at, at,"
            " decided_at, recorded_at) VALUES (?, ?, ?, 'opened', ?, ?, ?, ?)",
            [
                (PLATFORM, f"web{n:05d}", vantage, *([_text(opened)] * 2),
                 *([_text(opened + timedelta(minutes=15))] * 2))
                for n in sorted(outage)
                for vantage in (VANTAGE, "*")
            ],
        )  # fmt: skip
    return rounds * services


def _text(moment: datetime) -> str:
    """Transitions keep SQLAlchemy's SQLite text timestamps (naive UTC)."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


async def measure(services: int = SERVICES) -> StartupFigure:
    with tempfile.TemporaryDirectory(prefix="outagewatch-startup-") as directory:
        database = Path(directory) / "startup.db"
        engine = open_engine(f"sqlite+aiosqlite:///{database}")
        await upgrade(engine)
        await engine.dispose()
        now = datetime.now(UTC)
        began = time.perf_counter()
        rows = await asyncio.to_thread(write_history, database, services, now)
        written = time.perf_counter() - began
        async with HttpServer() as http:
            config = _config(database, http.url, services)
            restore, first_judgement = await _restore_alone(config)
            print(f"restore {restore:.2f} s, judgement {first_judgement:.2f} s", file=sys.stderr)
            first = await _first_probe(config)
    return StartupFigure(services, rows, written, restore, first_judgement, first)


async def _restore_alone(config: Config) -> tuple[float, float]:
    """The detector's restore, then its first judgement (reading the restored window), on
    their own: no probes compete for the process."""
    daemon = Daemon(config)
    try:
        now = datetime.now(UTC)
        began = time.perf_counter()
        await daemon.detector.restore(now)
        restored = time.perf_counter()
        await daemon.detector.step(now)
        return restored - began, time.perf_counter() - restored
    finally:
        await daemon.engine.dispose()


async def _first_probe(config: Config) -> float:
    """From ``Daemon.run()`` to the first probe result; then the daemon stops."""
    first = asyncio.get_running_loop().create_future()
    daemon = Daemon(config)
    accept = daemon._accept

    def accept_and_stamp(target: Target, result: ProbeResult) -> None:
        if not first.done():
            first.set_result(time.perf_counter())
        accept(target, result)

    daemon._accept = accept_and_stamp  # type: ignore[method-assign]
    began = time.perf_counter()
    running = asyncio.create_task(daemon.run())
    try:
        async with asyncio.timeout(TIMEOUT):
            first_at: float = await first
    finally:
        daemon.stop()
        # The stop waits for the detector's first judgement of the restored window: that
        # is measured on its own above, and is not what a start-up waits for.
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(running, STOP_WAIT)
    return first_at - began


def render(figure: StartupFigure) -> str:
    return "\n".join(
        [
            f"start-up on a database with history ({figure.services:,} HTTP services, SQLite,"
            f" {figure.history_rows:,} samples = {HISTORY.total_seconds() / 3600:g} h:"
            " the restore window twice over)",
            f"  detector restore (3 queries)         {figure.restore_seconds:6.2f} s",
            f"  then its first judgement (window)    {figure.first_judgement_seconds:6.2f} s",
            f"  daemon run() to first probe result   {figure.first_probe_seconds:6.2f} s",
            f"  (bulk insert of the history {figure.write_seconds:.1f} s, not part of the start)",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument("--services", type=int, default=SERVICES)
    args = parser.parse_args(argv)
    print(render(asyncio.run(measure(args.services))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
