"""TLS facts from every TLS handshake of every probe, against the sim/ servers: the leaf's
and the chain's not-after, names, version and cipher, also when verification fails (the
error named), and a full handshake each time."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import yaml

from outagewatch.probes import PROBES, Credentials, ErrorKind, run_probe
from outagewatch.sim import SimServer
from tests.certs import Case, cases
from tests.probes.test_probe_cli_and_secrets import run_cli
from tests.probes.test_probes_vs_sim import PASSWORD, SERVERS, USER, service_for

TLS_CASES = [
    (p, t) for p in SERVERS for t in ("starttls", "implicit") if (p, t) != ("http", "starttls")
]


@pytest.fixture(scope="module")
def certificate_cases(ca: trustme.CA) -> dict[str, Case]:
    return {case.name: case for case in cases(ca)}


CASE_NAMES = [
    "valid", "expires-in-5-days", "expired", "unknown-ca", "wrong-name",
    "intermediate-expires-first",
]  # fmt: skip


@pytest.fixture(params=TLS_CASES, ids=[f"{p}-{t}" for p, t in TLS_CASES])
def protocol_mode(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    yield request.param


@pytest.mark.parametrize("case_name", CASE_NAMES)
async def test_facts_of_every_handshake(
    protocol_mode: tuple[str, str],
    case_name: str,
    certificate_cases: dict[str, Case],
    ca_file: str,
) -> None:
    case = certificate_cases[case_name]
    protocol, tls = protocol_mode
    server = SERVERS[protocol](tls=tls, ssl_context=case.server, users={USER: PASSWORD})  # type: ignore[arg-type]
    async with server:
        service = service_for(server, ca_file, auth=True)
        result = await run_probe(
            PROBES[protocol], service, limit=5, credentials=Credentials(USER, PASSWORD)
        )
    facts = result.tls
    assert facts is not None, result.detail
    assert facts.leaf_not_after == case.leaf_not_after
    assert facts.chain_not_after == case.chain_not_after
    assert facts.error == case.error
    assert facts.version.startswith("TLSv1.")
    assert facts.cipher and facts.cipher != "unknown"
    assert facts.serial and len(facts.fingerprint) == 64
    if case.error is None:
        assert result.ok, result.detail
        assert "localhost" in facts.sans
    else:
        assert result.error_kind is ErrorKind.TLS, result.detail
        assert case.error in result.detail


async def test_no_session_resumption(server_tls: ssl.SSLContext, ca_file: str) -> None:
    """Each probe hands over a certificate: a resumed handshake would present none."""
    server = SERVERS["imap"](tls="implicit", ssl_context=server_tls, users={USER: PASSWORD})
    async with server:
        service = service_for(server, ca_file, auth=False)
        first = await run_probe(PROBES["imap"], service, limit=5)
        second = await run_probe(PROBES["imap"], service, limit=5)
    assert first.tls is not None and second.tls is not None
    assert first.tls.fingerprint == second.tls.fingerprint


async def test_clear_text_has_no_facts(ca_file: str) -> None:
    server: SimServer = SERVERS["pop3"](users={USER: PASSWORD})
    async with server:
        result = await run_probe(PROBES["pop3"], service_for(server, ca_file, auth=False), limit=5)
    assert result.ok and result.tls is None


async def test_unverified_service_still_reports(
    certificate_cases: dict[str, Case], ca_file: str
) -> None:
    """tls_verify: false accepts the expired certificate but still shows when it expired."""
    case = certificate_cases["expired"]
    server = SERVERS["smtp"](tls="implicit", ssl_context=case.server, users={USER: PASSWORD})
    async with server:
        service = service_for(server, ca_file, auth=False).model_copy(update={"tls_verify": False})
        result = await run_probe(PROBES["smtp"], service, limit=5)
    assert result.ok, result.detail
    assert result.tls is not None and result.tls.leaf_not_after == case.leaf_not_after


async def test_probe_command_shows_the_certificate(
    tmp_path: Path, certificate_cases: dict[str, Case], ca_file: str
) -> None:
    """`outagewatch probe -c FILE platform/imaps`: the facts, also of an expired certificate."""
    case = certificate_cases["expired"]
    async with SERVERS["imap"](tls="implicit", ssl_context=case.server) as imaps:
        service = {"protocol": "imap", "host": "127.0.0.1", "port": imaps.port, "tls": "implicit",
                   "ca_file": ca_file}  # fmt: skip
        path = tmp_path / "ow.yaml"
        path.write_text(yaml.safe_dump(one_service_config("imaps", service)))
        code, out, err = await run_cli("probe", "-c", str(path), "eu-de-1/imaps", env=ENV)
        assert code == 1, err
        assert "failed (tls)" in out and "expired" in out
        assert f"leaf until  {case.leaf_not_after:%Y-%m-%d %H:%M:%S}Z (2.0 days ago)" in out
        assert "verified    no: expired" in out and "TLSv1.3" in out
        code, out, _ = await run_cli("probe", "-c", str(path), "eu-de-1/imaps", "--json", env=ENV)
    tls = json.loads(out)["tls"]
    assert tls["verify_error"] == "expired"
    assert tls["leaf_not_after"] == case.leaf_not_after.isoformat()
    assert "localhost" in tls["sans"]


ENV = dict(os.environ)


def one_service_config(name: str, service: dict[str, object]) -> dict[str, object]:
    return {
        "platforms": {
            "eu-de-1": {
                "name": "OX Cloud EU de-1",
                "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                "services": {name: service},
            }
        }
    }
