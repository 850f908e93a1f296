"""The dnsbl and mailauth probes against a real authoritative DNS server (NSD) on loopback,
and the MTA-STS policy from a real aiohttp server with a trustme certificate."""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from aiohttp import web

from outagewatch.config import parse_config
from outagewatch.probes import ErrorKind, ProbeResult, probe_configured
from tests.conftest import missing_real
from tests.probes.mail_keys import ed25519_record, rsa_record, weak_rsa_record, zone_txt
from tests.probes.test_probe_cli_and_secrets import run_cli
from tests.probes.test_tls_facts import one_service_config
from tests.real.nsd import Nsd, NsdUnavailable, run_nsd

pytestmark = pytest.mark.real

LISTED_V4, CLEAN_V4, LISTED_V6 = "192.0.2.10", "192.0.2.11", "2001:db8::10"
V6_NAME = "0.1.0.0." + "0.0.0.0." * 5 + "8.b.d.0.1.0.0.2"
DELIST = "https://bl.test/lookup?ip=192.0.2.10"
BLOCKLIST = f"""\
10.2.0.192 IN A 127.0.0.2
10.2.0.192 IN TXT "Listed for sending spam, see {DELIST}"
{V6_NAME} IN A 127.0.0.3
2.0.0.127 IN A 127.0.0.2
"""
REFUSING = "* IN A 127.255.255.254\n"  # what Spamhaus says to a public resolver
POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmax_age: 604800\r\n"
DMARC = '_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"'


def mail_zone(dmarc: str = DMARC, spf_includes: int = 1) -> str:
    includes = " ".join(f"include:_spf{n}.example.test" for n in range(spf_includes))
    lines = [
        f'@ IN TXT "v=spf1 ip4:192.0.2.0/24 {includes} -all"',
        '@ IN TXT "google-site-verification=unrelated"',
        "@ IN MX 10 mx", "mx IN A 192.0.2.10",
        *(f'_spf{n} IN TXT "v=spf1 a mx -all"' for n in range(spf_includes)),
        dmarc,
        zone_txt("s1._domainkey", rsa_record(2048)),
        zone_txt("ed._domainkey", ed25519_record()),
        zone_txt("weak._domainkey", weak_rsa_record(512)),
        '_mta-sts IN TXT "v=STSv1; id=20261207T0500"',
        "mta-sts IN A 127.0.0.1",
        '_smtp._tls IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"',
    ]  # fmt: skip
    return "\n".join(lines)


@pytest.fixture
def nsd() -> Iterator[Nsd]:
    zones = {"bl.test": BLOCKLIST, "refusing.test": REFUSING, "example.test": mail_zone()}
    try:
        with run_nsd(zones) as server:
            yield server
    except NsdUnavailable as exc:
        missing_real(str(exc))


@pytest.fixture
async def policy_server(ca: trustme.CA) -> AsyncIterator[int]:
    """https://mta-sts.example.test:PORT/.well-known/mta-sts.txt on 127.0.0.1."""

    async def policy(_: web.Request) -> web.Response:
        return web.Response(text=POLICY, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/.well-known/mta-sts.txt", policy)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("mta-sts.example.test").configure_cert(tls)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    server = site._server
    assert server is not None and server.sockets
    yield int(server.sockets[0].getsockname()[1])
    await runner.cleanup()


def dns_config(nsd: Nsd, name: str, service: dict[str, Any]) -> dict[str, Any]:
    config = one_service_config(name, service)
    config["dns"] = {"resolvers": [nsd.resolver], "timeout": "2s"}
    return config


async def probe(config: dict[str, Any], name: str) -> ProbeResult:
    return await probe_configured(parse_config(config), "eu-de-1", name)


async def test_dnsbl_names_address_zone_code_reason_and_delisting_link(nsd: Nsd) -> None:
    service = {"protocol": "dnsbl", "addresses": [LISTED_V4, CLEAN_V4], "zones": ["bl.test"]}
    result = await probe(dns_config(nsd, "blocklists", service), "blocklists")
    assert not result.ok
    assert result.error_kind == ErrorKind.PROTOCOL
    assert result.detail.startswith(
        f"listed: {LISTED_V4} in bl.test (127.0.0.2, delist: {DELIST}): Listed for sending spam"
    ), result.detail
    assert CLEAN_V4 not in result.detail
    assert set(result.phases) == {"lookup", "reason"}


async def test_dnsbl_ipv6_listing_and_a_clean_address(nsd: Nsd) -> None:
    listed = {"protocol": "dnsbl", "addresses": [LISTED_V6], "zones": ["bl.test"]}
    result = await probe(dns_config(nsd, "bl", listed), "bl")
    assert not result.ok
    assert result.detail.startswith(f"listed: {LISTED_V6} in bl.test (127.0.0.3)")
    clean = {"protocol": "dnsbl", "addresses": [CLEAN_V4, "2001:db8::11"], "zones": ["bl.test"]}
    result = await probe(dns_config(nsd, "bl", clean), "bl")
    assert result.ok, result.detail
    assert result.detail == "not listed: 2 address(es) in bl.test"


async def test_spamhaus_refusal_is_an_error_of_that_list_not_a_listing(nsd: Nsd) -> None:
    service = {"protocol": "dnsbl", "addresses": [CLEAN_V4], "zones": ["bl.test", "refusing.test"]}
    result = await probe(dns_config(nsd, "bl", service), "bl")
    assert not result.ok
    assert "listed:" not in result.detail
    assert result.detail.startswith(
        f"list error: refusing.test for {CLEAN_V4}: answered 127.255.255.254 "
        "(query through a public or open resolver)"
    ), result.detail


async def test_dnsbl_server_not_answering_is_a_dns_error(nsd: Nsd) -> None:
    service = {"protocol": "dnsbl", "addresses": [CLEAN_V4], "zones": ["bl.test"]}
    config = dns_config(nsd, "bl", service)
    config["dns"] = {"resolvers": ["127.0.0.1:9"], "timeout": "0.3s"}  # nothing listens
    result = await probe(config, "bl")
    assert not result.ok
    assert result.error_kind == ErrorKind.DNS
    assert result.detail == (
        f"list error: bl.test for {CLEAN_V4}: lookup failed: 11.2.0.192.bl.test A: "
        "no answer within 0.3s (during lookup)"
    )


def mailauth(nsd: Nsd, port: int, ca_file: str, **more: Any) -> dict[str, Any]:
    service = {
        "protocol": "mailauth", "domain": "example.test", "dkim_selectors": ["s1", "ed"],
        "mta_sts": True, "mta_sts_port": port, "ca_file": ca_file, **more,
    }  # fmt: skip
    return dns_config(nsd, "dns-auth", service)


async def test_mailauth_ok_then_bad_naming_dmarc_when_it_is_removed(
    nsd: Nsd, policy_server: int, ca_file: str
) -> None:
    config = mailauth(nsd, policy_server, ca_file)
    result = await probe(config, "dns-auth")
    assert result.ok, result.detail
    assert result.detail == (
        "spf ok (3 lookup(s)); dmarc ok (p=reject); dkim s1 ok (rsa-2048); "
        "dkim ed ok (ed25519); mta-sts ok (enforce, 1 mx, max_age 604800, id 20261207T0500); "
        "tls-rpt ok (1 rua)"
    )
    assert set(result.phases) == {"spf", "dmarc", "dkim", "mta_sts", "tls_rpt"}

    nsd.update("example.test", mail_zone(dmarc=""))
    result = await probe(config, "dns-auth")
    assert not result.ok
    assert result.error_kind == ErrorKind.PROTOCOL
    assert result.detail == (
        "DMARC: no v=DMARC1 record at _dmarc.example.test; "
        "ok: spf, dkim s1, dkim ed, mta-sts, tls-rpt (during dmarc)"
    )


async def test_mailauth_names_spf_over_ten_lookups_and_a_weak_dkim_key(nsd: Nsd) -> None:
    nsd.update("example.test", mail_zone(spf_includes=4))  # 4 includes, each a and mx: 12
    service = {"protocol": "mailauth", "domain": "example.test", "dkim_selectors": ["weak"]}
    result = await probe(dns_config(nsd, "auth", service), "auth")
    assert not result.ok
    assert result.detail.startswith(
        "SPF: more than 10 DNS lookups (RFC 7208 4.6.4); the 11th is a at _spf3.example.test; "
        "DKIM weak: RSA key of 512 bits, at least 1024 needed; ok: dmarc (during spf)"
    ), result.detail


async def test_mta_sts_policy_with_an_untrusted_certificate_is_a_tls_failure(
    nsd: Nsd, policy_server: int
) -> None:
    result = await probe(mailauth(nsd, policy_server, ca_file=None), "dns-auth")  # type: ignore[arg-type]
    assert not result.ok
    assert result.error_kind == ErrorKind.TLS
    assert result.detail.startswith(
        f"mta-sts: policy https://mta-sts.example.test:{policy_server}/.well-known/mta-sts.txt: "
        "certificate rejected (unknown CA)"
    ), result.detail


async def test_an_mx_outside_the_mta_sts_policy_is_named(
    nsd: Nsd, policy_server: int, ca_file: str
) -> None:
    nsd.update("example.test", mail_zone() + "\n@ IN MX 20 backup-mx.example.net.")
    result = await probe(mailauth(nsd, policy_server, ca_file), "dns-auth")
    assert not result.ok
    assert result.detail.startswith(
        "MTA-STS policy: MX backup-mx.example.net is not covered by the policy's mx lines; "
        "ok: spf, dmarc, dkim s1, dkim ed, tls-rpt (during mta_sts)"
    ), result.detail


async def test_probe_command_json_shows_each_verdict(
    nsd: Nsd, policy_server: int, ca_file: str, tmp_path: Path
) -> None:
    config = mailauth(nsd, policy_server, ca_file)
    blocklists = {"protocol": "dnsbl", "addresses": [LISTED_V4], "zones": ["bl.test"]}
    clean = {"protocol": "dnsbl", "addresses": [CLEAN_V4], "zones": ["bl.test"]}
    config["platforms"]["eu-de-1"]["services"].update(blocklists=blocklists, clean=clean)
    path = tmp_path / "outagewatch.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ}

    async def run(target: str) -> tuple[int, dict[str, Any]]:
        code, out, err = await run_cli("probe", "-c", str(path), target, "--json", env=env)
        assert not err, err
        return code, json.loads(out)

    code, listed = await run("eu-de-1/blocklists")
    assert (code, listed["verdict"], listed["bad"]) == (1, "failed (protocol)", True)
    assert "in bl.test (127.0.0.2" in listed["detail"]
    code, ok = await run("eu-de-1/clean")
    assert (code, ok["verdict"], ok["detail"]) == (0, "ok", "not listed: 1 address(es) in bl.test")
    code, auth = await run("eu-de-1/dns-auth")
    assert (code, auth["verdict"]) == (0, "ok")
    assert "dmarc ok (p=reject)" in auth["detail"]
    nsd.update("example.test", mail_zone(dmarc=""))
    code, auth = await run("eu-de-1/dns-auth")
    assert (code, auth["verdict"]) == (1, "failed (protocol)")
    assert auth["detail"].startswith("DMARC: no v=DMARC1 record at _dmarc.example.test")
