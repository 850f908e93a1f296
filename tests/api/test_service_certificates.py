"""GET /api/v1/services shows the certificate each vantage last saw, as the detector
stores it (also one that failed verification)."""

from __future__ import annotations

from datetime import timedelta

from outagewatch.certificates import store as certificates
from outagewatch.probes.result import ErrorKind, ProbeResult
from outagewatch.store.samples import SampleRow, insert_samples
from outagewatch.tls.facts import TlsFacts
from tests.api import test_routes

from .harness import Api

api = test_routes.api  # the routes' fixture: a real aiohttp server on a migrated SQLite


async def test_each_vantage_shows_its_certificate(api: Api) -> None:
    now = api.clock.now
    facts = TlsFacts(
        leaf_not_after=now - timedelta(days=1), chain_not_after=now - timedelta(days=1),
        leaf_not_before=now - timedelta(days=91), subject="CN=imap.example.net",
        issuer="CN=Example CA", sans=("imap.example.net",), serial="1f",
        fingerprint="c" * 64, version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384",
        error="expired",
    )  # fmt: skip
    result = ProbeResult(now, 0.1, False, ErrorKind.TLS, {"tls": 0.1}, "expired", tls=facts)
    async with api.engine.begin() as conn:
        await insert_samples(conn, [SampleRow("eu-de-1", "imap", "fra", result, True)])
        await certificates.save_seen(conn, ("eu-de-1", "imap", "fra"), facts, now)
    _, services = await test_routes.call(api, "GET", "/api/v1/services", role="viewer")
    imap = next(s for s in services["items"] if s["id"] == "eu-de-1/imap")
    tls = imap["vantages"]["fra"]["tls"]
    assert tls["verify_error"] == "expired" and tls["fingerprint_sha256"] == "c" * 64
    assert tls["chain_not_after"].startswith(f"{facts.chain_not_after:%Y-%m-%dT%H:%M:%S}")
    webmail = next(s for s in services["items"] if s["id"] == "us/webmail")
    assert all(v["tls"] is None for v in webmail["vantages"].values())
