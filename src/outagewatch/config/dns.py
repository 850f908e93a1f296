"""The ``dns:`` section: which resolvers the DNS-based probes (dnsbl, mailauth) ask.

The top-level section is copied into every DNS-based service that has no ``dns:`` of its
own (``with_dns_defaults``), so a probe carries all it needs, in a worker process too.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from outagewatch.config.rules import Duration

DNS_PROTOCOLS = frozenset({"dnsbl", "mailauth"})
# A host name as DNS carries it: labels of letters, digits, "-" and "_" (DKIM and DMARC
# names start with one), at most 253 characters, an optional final dot.
DnsName = Annotated[
    str,
    Field(
        max_length=254,
        pattern=r"^([A-Za-z0-9_-]{1,63}\.)*[A-Za-z0-9_-]{1,63}\.?$",
    ),
]


def resolver_address(text: str) -> tuple[str, int]:
    """``host:port`` of a resolver (IPv6 as ``[::1]:5353``; the port defaults to 53)."""
    host, port = text, "53"
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"{text!r}: write an IPv6 resolver as [address]:port")
        host, port = inside, rest[1:] or "53"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{text!r}: a resolver is an IP address with an optional port, "
            "e.g. 127.0.0.1:5353 or [::1]:5353"
        ) from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: the port must be 1-65535")
    return str(address), int(port)


def _resolver(text: str) -> str:
    resolver_address(text)
    return text


def _timeout(value: timedelta) -> timedelta:
    if not timedelta(0) < value <= timedelta(minutes=1):
        raise ValueError("must be more than 0s and at most 1m")
    return value


class DnsSettings(BaseModel):
    """Resolvers to ask (none: the system's, from /etc/resolv.conf) and how long one
    lookup may take in all, retries to the other resolvers included."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resolvers: (
        Annotated[list[Annotated[str, AfterValidator(_resolver)]], Field(min_length=1)] | None
    ) = None
    timeout: Annotated[Duration, AfterValidator(_timeout)] = timedelta(seconds=5)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [resolver_address(text) for text in self.resolvers or ()]


def with_dns_defaults(data: Any) -> Any:
    """The raw config with the top-level ``dns:`` given to each DNS-based service that has
    none. A top-level section that does not validate is left for its own error alone, so
    one mistake is not reported once per service."""
    if not isinstance(data, dict) or not isinstance(data.get("dns"), dict):
        return data
    try:
        DnsSettings.model_validate(data["dns"])
    except ValueError:
        return data
    platforms = data.get("platforms")
    if not isinstance(platforms, dict):
        return data
    copied = {}
    for pid, platform in platforms.items():
        services = platform.get("services") if isinstance(platform, dict) else None
        if isinstance(services, dict):
            services = {sid: _given(service, data["dns"]) for sid, service in services.items()}
            platform = {**platform, "services": services}
        copied[pid] = platform
    return {**data, "platforms": copied}


def _given(service: Any, dns: dict[str, Any]) -> Any:
    if isinstance(service, dict) and service.get("protocol") in DNS_PROTOCOLS:
        return {"dns": dns, **service}
    return service
