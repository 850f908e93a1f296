"""Maintenance timelines with a controlled clock, down to the mails the lists receive."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from outagewatch.maintenance import decisions as decide
from outagewatch.maintenance.engine import MaintenanceEngine
from outagewatch.probes.result import ProbeResult
from outagewatch.sim import SmtpServer
from outagewatch.store.samples import SampleRow, insert_samples

from ..incidents.world import LISTS, World, config_for, customer, text

MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
THURSDAY = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
GRACE = timedelta(minutes=30)
INFO = LISTS["eu-de-1"][1]


class MaintenanceWorld(World):
    async def start(self) -> None:
        await super().start()
        self.windows = MaintenanceEngine(self.db, self.config, self.engine.audiences)

    async def run(self, now: datetime) -> list:  # type: ignore[override,type-arg]
        while await self.windows.step(now):
            pass
        return await super().run(now)

    async def announce(self, now: datetime, **kw: object) -> decide.Maintenance:
        fields = {
            "platform": "eu-de-1", "services": ("imap", "pop3"), "kind": "planned",
            "starts_at": THURSDAY, "ends_at": THURSDAY + timedelta(hours=2),
            "expected_impact": "IMAP and POP3 unavailable for up to 10 minutes.", **kw,
        }  # fmt: skip
        build = functools.partial(
            decide.announce, known_services=("webmail", "smtp", "imap", "pop3"), actor="alice",
            now=now, zone=ZoneInfo("Europe/Berlin"), country="DE", **fields,
        )  # fmt: skip
        return await self.windows.announce(lambda ref: build(ref=ref), now)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[MaintenanceWorld]:
    async with SmtpServer() as sink:
        w = MaintenanceWorld(sink, config_for(sink.port, tmp_path / "ow.db"))
        await w.start()
        try:
            yield w
        finally:
            await w.close()


def subjects(mails: list) -> list[str]:  # type: ignore[type-arg]
    return [str(m["Subject"]) for m in mails]


async def test_announce_start_finish_successful(world: MaintenanceWorld) -> None:
    window = await world.announce(MONDAY)
    assert window.ref == "MW-20261123-0001" and window.lead_time == timedelta(days=3)
    mails = await world.run(MONDAY)
    assert subjects(mails) == ["[OX Cloud EU de-1] Maintenance: IMAP, POP3 — maintenance announced"]
    assert [str(m["To"]) for m in mails] == [INFO]  # the informational list, not the incident one
    body = text(mails[0])
    assert "2026-11-26 09:00 UTC (2026-11-26 10:00 CET, Europe/Berlin)" in body
    assert "IMAP and POP3 unavailable for up to 10 minutes." in body

    assert await world.run(THURSDAY - timedelta(seconds=1)) == []
    started = await world.run(THURSDAY)
    assert subjects(started) == ["[OX Cloud EU de-1] Maintenance: IMAP, POP3 — maintenance started"]
    assert str(started[0]["In-Reply-To"]) == str(mails[0]["Message-ID"])

    assert window.id is not None
    finish = functools.partial(
        decide.finish,
        successful=True,
        actor="alice",
        now=THURSDAY + timedelta(minutes=50),
        note="New storage firmware.",
    )
    await world.windows.act(window.id, finish, THURSDAY + timedelta(minutes=50))
    done = await world.run(THURSDAY + timedelta(minutes=50))
    assert subjects(done) == ["[OX Cloud EU de-1] Maintenance: IMAP, POP3 — maintenance finished"]
    assert "is finished and was successful" in text(done[0])
    assert "New storage firmware." in text(done[0])
    assert await world.run(THURSDAY + timedelta(hours=5)) == []  # nothing more, no auto-finish


async def test_unsuccessful_extended_and_cancelled(world: MaintenanceWorld) -> None:
    window = await world.announce(MONDAY)
    assert window.id is not None
    await world.run(THURSDAY)
    later = THURSDAY + timedelta(hours=4)
    extend = functools.partial(decide.extend, ends_at=later, actor="bob", now=THURSDAY)
    await world.windows.act(window.id, extend, THURSDAY)
    extended = await world.run(THURSDAY + timedelta(minutes=1))
    assert subjects(extended)[-1].endswith("— maintenance extended")
    assert "it now ends at 2026-11-26 13:00 UTC" in text(extended[-1])
    fail = functools.partial(
        decide.finish, successful=False, actor="bob", now=later, note="Rolled back."
    )
    await world.windows.act(window.id, fail, later)
    failed = await world.run(later)
    assert "but it was NOT successful" in text(failed[0])

    other = await world.announce(
        MONDAY + timedelta(hours=1),
        starts_at=THURSDAY + timedelta(days=1),
        ends_at=THURSDAY + timedelta(days=1, hours=1),
    )
    assert other.id is not None
    await world.windows.act(
        other.id, functools.partial(decide.cancel, actor="bob", now=later), later
    )
    cancelled = await world.run(later)
    assert subjects(cancelled)[-1].endswith("— maintenance cancelled")
    assert await world.run(THURSDAY + timedelta(days=2)) == []  # a cancelled window never starts


async def test_too_soon_unless_emergency(world: MaintenanceWorld) -> None:
    with pytest.raises(decide.TooSoon) as caught:
        await world.announce(
            MONDAY,
            starts_at=MONDAY + timedelta(days=1),
            ends_at=MONDAY + timedelta(days=1, hours=1),
        )
    assert caught.value.earliest == THURSDAY
    soon = MONDAY + timedelta(minutes=30)
    window = await world.announce(
        MONDAY, kind="emergency", starts_at=soon, ends_at=soon + timedelta(minutes=30)
    )
    assert window.lead_time == timedelta(minutes=30)
    mails = await world.run(MONDAY)
    assert subjects(mails) == [
        "[OX Cloud EU de-1] Emergency maintenance: IMAP, POP3 — maintenance announced"
    ]


@pytest.mark.parametrize(("bad", "outcome"), [(False, "was successful"), (True, "NOT successful")])
async def test_auto_finish_judged_by_the_probes(
    world: MaintenanceWorld, bad: bool, outcome: str
) -> None:
    window = await world.announce(MONDAY)
    await world.run(THURSDAY)
    end = window.ends_at
    rows = [
        SampleRow("eu-de-1", service, "fra",
                  ProbeResult(end + timedelta(minutes=m), 0.2, not bad, None, {}, ""), bad)
        for service in ("imap", "pop3") for m in (1, 2)
    ]  # fmt: skip
    async with world.db.begin() as conn:
        await insert_samples(conn, rows)
    assert await world.run(end + GRACE - timedelta(seconds=1)) == []
    mails = await world.run(end + GRACE)
    assert subjects(mails) == [
        "[OX Cloud EU de-1] Maintenance: IMAP, POP3 — maintenance finished",
        "[on-call] [OX Cloud EU de-1] Maintenance: IMAP, POP3 — maintenance finished",
    ]
    assert outcome in text(mails[0])
    assert "Finished by outagewatch" in text(mails[0])
    assert [str(m["To"]) for m in mails] == [INFO, "oncall@example.net"]
    assert customer(mails) == mails[:1]


async def test_detection_sees_the_windows(world: MaintenanceWorld) -> None:
    window = await world.announce(MONDAY)
    spans = await world.windows.windows(MONDAY)
    assert spans[("eu-de-1", "imap")] == [window.window()]
    assert ("eu-de-1", "smtp") not in spans


async def test_the_lookback_follows_a_reloaded_config(world: MaintenanceWorld) -> None:
    # Worked out once per config, not per round; a reload replaces the config it reads.
    current = [world.config]
    windows = MaintenanceEngine(world.db, lambda: current[0], world.engine.audiences)
    default = windows.lookback()
    assert default == 2 * world.config.rules_for("eu-de-1", "imap").outage_after + timedelta(
        hours=1
    )
    current[0] = config_for(9, Path("unused.db"), outage_after="2h")
    assert windows.lookback() == timedelta(hours=5)
    assert windows.lookback() != default
