"""The dns: section and the DNS-based services: defaults, copies, errors named by path."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from outagewatch.config import ConfigError, DnsblService, MailauthService, parse_config
from tests.probes.test_tls_facts import one_service_config

BL = {"protocol": "dnsbl", "addresses": ["192.0.2.10", "2001:db8::10"], "zones": ["bl.test"]}
AUTH = {"protocol": "mailauth", "domain": "example.test", "dkim_selectors": ["s1"]}


def config_with(**services: dict[str, Any]) -> dict[str, Any]:
    config = one_service_config("x", {"protocol": "pop3", "host": "h"})
    config["platforms"]["eu-de-1"]["services"] = services
    return config


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def test_top_level_dns_reaches_every_dns_service_unless_it_has_its_own() -> None:
    data = config_with(bl=BL, auth={**AUTH, "dns": {"resolvers": ["[::1]:5353"]}})
    data["dns"] = {"resolvers": ["127.0.0.1:5353", "192.0.2.53"], "timeout": "2s"}
    services = parse_config(data).platforms["eu-de-1"].services
    bl, auth = services["bl"], services["auth"]
    assert isinstance(bl, DnsblService) and isinstance(auth, MailauthService)
    assert bl.dns.addresses == [("127.0.0.1", 5353), ("192.0.2.53", 53)]
    assert bl.dns.timeout == timedelta(seconds=2)
    assert auth.dns.addresses == [("::1", 5353)]
    assert auth.dns.timeout == timedelta(seconds=5)


def test_without_dns_the_system_resolver_is_used() -> None:
    bl = parse_config(config_with(bl=BL)).platforms["eu-de-1"].services["bl"]
    assert isinstance(bl, DnsblService)
    assert bl.dns.resolvers is None


def test_errors_name_their_paths_and_a_bad_top_level_dns_is_reported_once() -> None:
    data = config_with(
        bl={**BL, "addresses": ["192.0.2.300"], "zones": ["bad zone"]},
        auth={**AUTH, "dkim_selectors": ["s 1"], "mta_sts_port": 0, "colour": "blue"},
    )
    data["dns"] = {"resolvers": ["dns.example.net:53", "[::1]x"], "timeout": "0s"}
    found = problems(data)
    assert (
        "dns.resolvers.0: 'dns.example.net:53': a resolver is an IP address with an "
        "optional port, e.g. 127.0.0.1:5353 or [::1]:5353" in found
    )
    assert "dns.resolvers.1: '[::1]x': write an IPv6 resolver as [address]:port" in found
    assert "dns.timeout: must be more than 0s and at most 1m" in found
    assert (
        "platforms.eu-de-1.services.bl.addresses.0: value is not a valid IPv4 or IPv6 "
        "address" in found
    )
    assert any(p.startswith("platforms.eu-de-1.services.bl.zones.0: 'bad zone'") for p in found)
    assert any(
        p.startswith("platforms.eu-de-1.services.auth.dkim_selectors.0: 's 1'") for p in found
    )
    assert "platforms.eu-de-1.services.auth.mta_sts_port: must be 1-65535" in found
    assert any(p.startswith("platforms.eu-de-1.services.auth.colour: unknown key") for p in found)
    assert not any(".services.bl.dns" in p for p in found), found
    assert len(found) == 8, found


def test_dnsbl_needs_addresses_and_zones() -> None:
    found = problems(config_with(bl={"protocol": "dnsbl", "addresses": [], "zones": []}))
    assert any(p.startswith("platforms.eu-de-1.services.bl.addresses: ") for p in found)
    assert any(p.startswith("platforms.eu-de-1.services.bl.zones: ") for p in found)
