"""The writer's and the detector's steps with a controlled clock on a real SQLite file:
samples in, transitions and metrics out, and a restart in the middle of a bad run that
changes nothing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.config import parse_config
from outagewatch.config.targets import Target, targets_of
from outagewatch.detection.detector import Detector
from outagewatch.detection.export import DetectionExport
from outagewatch.detection.sample_reader import SampleReader
from outagewatch.detection.sample_writer import SampleWriter
from outagewatch.metrics import Metrics
from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade
from outagewatch.store.series import resolve
from outagewatch.store.tables import samples, transitions

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CONFIG = {
    "vantage": "fra",
    "rules": {"slow_after": "30s", "outage_after": "15m", "probe_interval": "30s"},
    "platforms": {
        "eu-de-1": {
            "name": "OX Cloud EU de-1",
            "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
            "services": {"imap": {"protocol": "imap", "host": "127.0.0.1", "port": 1143}},
        }
    },
}


@pytest.fixture
def engine(migrated_sqlite: AsyncEngine) -> AsyncEngine:
    return migrated_sqlite


def sample(seconds: int, *, duration: float) -> ProbeResult:
    ok = duration < 60
    return ProbeResult(
        started_at=T0 + timedelta(seconds=seconds),
        duration=duration,
        ok=ok,
        error_kind=None if ok else ErrorKind.TIMEOUT,
        phases={"banner": duration},
        detail="",
    )


class Leader:
    """The parts of the daemon's leader that these tests drive: the writer and the detector,
    stepped as a round steps them."""

    def __init__(self, engine: AsyncEngine, targets: list[Target], metrics: Metrics) -> None:
        export = DetectionExport(metrics, "fra")
        self.samples = SampleWriter(engine, targets, "fra", export)
        self.detector = Detector(engine, targets, "fra", export)

    def accept(self, target: Target, result: ProbeResult) -> None:
        self.samples.accept(target, result)

    async def step(self, now: datetime) -> bool:
        """Write, then judge; True when there was any work."""
        wrote = await self.samples.step()
        return await self.detector.step(now) or wrote


def leader(engine: AsyncEngine) -> tuple[Leader, Target, Metrics]:
    targets = targets_of(parse_config(CONFIG))
    metrics = Metrics()
    return Leader(engine, targets, metrics), targets[0], metrics


def gauge(metrics: Metrics, name: str) -> float | None:
    """The value of the imap service's series ``name`` in /metrics, None when it has none."""
    labels = {"platform": "eu-de-1", "service": "imap", "protocol": "imap", "vantage": "fra"}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return None


async def feed(det: Leader, target: Target, seconds: range, duration: float) -> None:
    for t in seconds:
        det.accept(target, sample(t, duration=duration))
        while await det.step(T0 + timedelta(seconds=t, milliseconds=int(duration * 1000))):
            pass


async def opened_rows(engine: AsyncEngine) -> list[tuple[str, datetime, datetime]]:
    async with engine.connect() as conn:
        query = select(transitions.c.vantage, transitions.c.started_at, transitions.c.at).where(
            transitions.c.kind == "opened", transitions.c.vantage.not_like("%~degraded")
        )
        return [tuple(r) for r in await conn.execute(query)]  # type: ignore[misc]


async def test_slow_answers_for_15_minutes_open_an_outage(engine: AsyncEngine) -> None:
    det, target, metrics = leader(engine)
    await feed(det, target, range(0, 870, 30), duration=31.0)  # slower than 30 s
    assert await opened_rows(engine) == []
    assert gauge(metrics, "outagewatch_service_bad_since_seconds") == pytest.approx(840 + 31)
    assert gauge(metrics, "outagewatch_service_outage") == 0
    # Declared once every probe that started by the deadline has reported.
    await det.step(T0 + timedelta(seconds=900) + target.rules.lateness)
    assert gauge(metrics, "outagewatch_service_outage") == 1
    detected = T0 + timedelta(minutes=15)
    assert sorted(await opened_rows(engine)) == [("*", T0, detected), ("fra", T0, detected)]
    async with engine.connect() as conn:
        assert await conn.scalar(select(samples.c.id).limit(1)) is not None
    await feed(det, target, range(900, 990, 30), duration=0.2)
    await det.step(T0 + timedelta(seconds=990) + target.rules.lateness)
    assert gauge(metrics, "outagewatch_service_outage") == 0


async def test_a_restart_mid_run_declares_at_the_same_moment(engine: AsyncEngine) -> None:
    det, target, _ = leader(engine)
    await feed(det, target, range(0, 600, 30), duration=31.0)
    # The daemon dies at 10:10; a new one starts 40 s later on the same database.
    det2, target2, metrics2 = leader(engine)
    await det2.detector.restore(T0 + timedelta(seconds=640))
    await feed(det2, target2, range(660, 960, 30), duration=31.0)
    await det2.step(T0 + timedelta(seconds=900) + target2.rules.lateness)  # all reported
    assert sorted(await opened_rows(engine)) == [
        ("*", T0, T0 + timedelta(minutes=15)),
        ("fra", T0, T0 + timedelta(minutes=15)),
    ]
    assert gauge(metrics2, "outagewatch_service_outage") == 1


async def test_a_restart_during_an_outage_does_not_declare_it_again(engine: AsyncEngine) -> None:
    det, target, _ = leader(engine)
    await feed(det, target, range(0, 1000, 30), duration=61.0)  # timeouts
    det2, target2, metrics2 = leader(engine)
    await det2.detector.restore(T0 + timedelta(seconds=1100))
    await feed(det2, target2, range(1100, 1400, 30), duration=61.0)
    assert len(await opened_rows(engine)) == 2  # one service-level, one for vantage fra
    assert gauge(metrics2, "outagewatch_service_outage") == 1


async def test_a_sample_committed_late_with_a_lower_id_is_still_read(engine: AsyncEngine) -> None:
    """Concurrent writers (several vantages on PostgreSQL) commit ids out of order."""
    from sqlalchemy import insert

    det, target, _ = leader(engine)
    reader = SampleReader(engine)  # beside the detector's own, to see its ids
    async with engine.begin() as conn:
        nyc = (await resolve(conn, {("eu-de-1", "imap", "nyc"): None}))[("eu-de-1", "imap", "nyc")]

    def row(sample_id: int, seconds: int) -> dict[str, object]:
        return {
            "id": sample_id, "series_id": nyc.id, "started_at": T0 + timedelta(seconds=seconds),
            "duration": 0.1, "bad": False, "error_kind": None, "detail": None, "phases": None,
        }  # fmt: skip

    async with engine.begin() as conn:
        await conn.execute(insert(samples), [row(1, 0), row(2, 30), row(4, 90)])
    assert [r[0] for r in (await reader.read())[0]] == [1, 2, 4]
    assert reader.holes == {3} and reader.watermark == 4
    await det.detector.step(T0 + timedelta(seconds=91))
    async with engine.begin() as conn:
        await conn.execute(insert(samples), [row(3, 60)])  # the slow transaction commits
    assert [r[0] for r in (await reader.read())[0]] == [3]  # read once, with nothing again
    assert reader.holes == set() and reader.watermark == 4
    await det.detector.step(T0 + timedelta(seconds=92))
    track = det.detector.track(target.key).vantages["nyc"]
    assert track.checkpoint.last_at == T0  # settled already (older than the settle time)
    assert [o.at for o in track.pending] == [T0 + timedelta(seconds=s) for s in (30, 60, 90)]


def many_services(count: int) -> list[Target]:
    data = copy.deepcopy(CONFIG)
    services = data["platforms"]["eu-de-1"]["services"]  # type: ignore[index]
    for n in range(count):
        services[f"imap{n}"] = {"protocol": "imap", "host": "127.0.0.1", "port": 1143}
    return targets_of(parse_config(data))


async def restore_statements(engine: AsyncEngine, targets: list[Target]) -> int:
    """How many SQL statements one restore sends, after a bad run of every service."""
    det = Leader(engine, targets, Metrics())
    for t in range(0, 1000, 30):
        for target in targets:
            det.accept(target, sample(t, duration=61.0))
        while await det.step(T0 + timedelta(seconds=t + 61)):
            pass
    sent: list[str] = []

    def listen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", listen)
    try:
        restored = Detector(engine, targets, "fra", DetectionExport(Metrics(), "fra"))
        await restored.restore(T0 + timedelta(seconds=1100))
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", listen)
    for target in targets:  # every service's judgement is back: in outage, not to be re-declared
        assert restored.track(target.key).in_outage is not None
        assert restored.track(target.key).vantages["fra"].checkpoint.outage is not None
    return len(sent)


async def test_a_restore_reads_every_service_in_the_same_few_queries(
    migrated_sqlite: AsyncEngine, tmp_path: Path
) -> None:
    few = await restore_statements(migrated_sqlite, many_services(1))
    other = open_engine(f"sqlite+aiosqlite:///{tmp_path / 'many.db'}")
    await upgrade(other)
    try:
        many = await restore_statements(other, many_services(40))
    finally:
        await other.dispose()
    assert few == many <= 4


async def test_vantages_up_as_the_tracks_see_them(engine: AsyncEngine) -> None:
    """The leader's `outagewatch_vantage_up` comes from what the detector read, not from a
    walk of every track each round; it must say what the tracks say."""
    det, target, _ = leader(engine)
    await feed(det, target, range(0, 300, 30), duration=0.1)
    # A vantage is up while its newest sample may still be followed by one in flight.
    silence = target.rules.max_gap + target.rules.lateness
    last = T0 + timedelta(seconds=270)
    for now in (last, last + silence, last + silence + timedelta(seconds=1)):
        by_tracks = det.detector.track(target.key).active(now)  # the only service
        assert det.detector.vantages_up(now) == by_tracks, now
    assert det.detector.vantages_up(last + silence) == {"fra"}
    assert det.detector.vantages_up(last + silence + timedelta(seconds=1)) == set()
    later = last + timedelta(seconds=5)
    await det.detector.restore(later)  # a restart reads the samples again, and sees the same
    while await det.detector.step(later):
        pass
    assert det.detector.vantages_up(later) == {"fra"}
