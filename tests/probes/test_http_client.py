"""The HTTP probe measures what a user's first visit costs: every probe opens its own
connection, handshakes TLS in full (no session resumption), and times its phases on its own
timer."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from outagewatch.config import HttpService, Rules
from outagewatch.probes import PhaseTimer, probe_service
from outagewatch.probes.http_get import get
from outagewatch.sim import HttpServer
from outagewatch.tls.contexts import TlsMode

PROBES = 4


@pytest.mark.parametrize("tls", ["none", "implicit"])
async def test_each_probe_its_own_connection_and_phases(
    tls: TlsMode, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    scheme = "https" if tls == "implicit" else "http"
    async with HttpServer(tls=tls, ssl_context=server_tls if tls != "none" else None) as server:
        service = HttpService(
            protocol="http",
            url=f"{scheme}://127.0.0.1:{server.port}/",
            expect_body="OX App Suite",
            ca_file=Path(ca_file),
        )
        results = [await probe_service(service, Rules()) for _ in range(PROBES)]
        await server.wait_accepted(PROBES)
        assert len(server.connections) == PROBES  # no connection was reused
    assert all(r.ok for r in results), [r.detail for r in results]
    phases = ["dns", "connect", *(["tls"] if tls == "implicit" else []), "first_byte", "body"]
    for result in results:
        assert list(result.phases) == phases
        assert sum(result.phases.values()) == pytest.approx(result.duration)


async def test_no_tls_session_is_resumed(server_tls: ssl.SSLContext, ca_file: str) -> None:
    tls = ssl.create_default_context(cafile=ca_file)  # shared by the requests, as by probes
    async with HttpServer(tls="implicit", ssl_context=server_tls) as server:
        for _ in range(3):
            await get(f"https://127.0.0.1:{server.port}/", tls, PhaseTimer())
    stats = tls.session_stats()
    assert stats["connect_good"] == 3  # three full handshakes …
    assert stats["hits"] == 0  # … none of them a resumed session
