"""Certificate warnings end to end with a controlled clock: facts as the detector stores
them, the engine's passes, the outbox, the sender and a real SMTP sink. On-call only."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from outagewatch.certificates import store as store
from outagewatch.certificates.engine import CertificateEngine
from outagewatch.tls.facts import TlsFacts
from tests.incidents import conftest as incidents
from tests.incidents.world import T0, World

world = incidents.world  # the incident scenarios' world: a database, a sender, a sink
DAY = timedelta(days=1)
FACTS = TlsFacts(
    leaf_not_after=T0 + 30 * DAY, chain_not_after=T0 + 30 * DAY,
    leaf_not_before=T0 - 60 * DAY, subject="CN=imap.example.net", issuer="CN=Example CA",
    sans=("imap.example.net",), serial="1f", fingerprint="a" * 64, version="TLSv1.3",
    cipher="TLS_AES_256_GCM_SHA384", error=None,
)  # fmt: skip


async def see(world: World, facts: TlsFacts, vantage: str = "fra") -> None:
    async with world.db.begin() as conn:
        await store.save_seen(conn, ("eu-de-1", "imap", vantage), facts, T0)


async def tell(world: World, engine: CertificateEngine, days: float) -> list[str]:
    now = T0 + days * DAY
    while await engine.step(now):
        pass
    mails = await world.run(now)
    assert all(str(m["To"]) == "oncall@example.net" for m in mails)
    return [str(m["Subject"]) for m in mails]


async def test_once_per_threshold_and_again_when_replaced(world: World) -> None:
    engine = CertificateEngine(world.db, world.config)
    await see(world, FACTS)  # 90 days of life: warned at 21 days left, critical at 7
    assert await tell(world, engine, 0) == []
    assert await tell(world, engine, 8.9) == []
    assert await tell(world, engine, 9.1) == [
        "[on-call] eu-de-1/imap: certificate expires in 20 days"
    ]
    assert await tell(world, engine, 9.2) == []
    assert await tell(world, engine, 15) == []
    critical = await tell(world, engine, 23.5)
    assert critical == ["[on-call] eu-de-1/imap: certificate expires in 6 days (critical)"]
    assert await tell(world, engine, 29) == []
    # The worst vantage counts: another one still sees the old certificate after renewal.
    renewed = dataclasses.replace(
        FACTS, fingerprint="b" * 64, leaf_not_before=T0 + 29 * DAY,
        leaf_not_after=T0 + 119 * DAY, chain_not_after=T0 + 119 * DAY,
    )  # fmt: skip
    await see(world, renewed, "fra")
    await see(world, renewed, "nyc")
    assert await tell(world, engine, 29.5) == [
        "[on-call] eu-de-1/imap: certificate replaced, now valid until 2027-03-22 10:00 UTC"
    ]
    assert await tell(world, engine, 30) == []


async def test_a_pass_a_minute_at_most(world: World) -> None:
    engine = CertificateEngine(world.db, world.config)
    assert await tell(world, engine, 0) == []
    await see(world, dataclasses.replace(FACTS, chain_not_after=T0 + 2 * DAY))
    assert await tell(world, engine, 0.0001) == []  # 8.6 s later: not yet
    assert await tell(world, engine, 0.001) == [
        "[on-call] eu-de-1/imap: certificate expires in 47 hours (critical)"
    ]


async def test_expired_is_said_so(world: World) -> None:
    engine = CertificateEngine(world.db, world.config)
    await see(world, dataclasses.replace(FACTS, chain_not_after=T0 - 3 * DAY, error="expired"))
    assert await tell(world, engine, 0) == [
        "[on-call] eu-de-1/imap: certificate EXPIRED 3 days ago (critical)"
    ]
