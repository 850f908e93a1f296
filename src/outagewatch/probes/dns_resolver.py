"""DNS lookups for the DNS-based probes, through dnspython's async resolver and the
resolvers of the config's ``dns:`` section (the system's when none are given).

Absent data (NXDOMAIN, or the name without records of that type) is an empty answer, not
an error: a blocklist answers "not listed" that way, and a missing DMARC record is a
finding of the probe. What keeps an answer from being known (no reply in time, SERVFAIL,
REFUSED) raises ``DnsFailure``, naming the name and type asked.
"""

from __future__ import annotations

import socket
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.nameserver
import dns.resolver
from aiohttp.abc import AbstractResolver, ResolveResult

from outagewatch.config import DnsSettings
from outagewatch.probes.result import ErrorKind, ProbeFailure
from outagewatch.text import one_line


class DnsFailure(ProbeFailure):
    def __init__(self, detail: str) -> None:
        super().__init__(ErrorKind.DNS, detail)


class Dns:
    """One probe's resolver: no cache, so every probe asks afresh."""

    def __init__(self, settings: DnsSettings) -> None:
        if settings.resolvers:
            self.resolver = dns.asyncresolver.Resolver(configure=False)
            self.resolver.nameservers = [
                dns.nameserver.Do53Nameserver(host, port) for host, port in settings.addresses
            ]
        else:
            self.resolver = dns.asyncresolver.Resolver()  # /etc/resolv.conf
        seconds = settings.timeout.total_seconds()
        self.resolver.lifetime = seconds
        self.resolver.timeout = seconds
        self.timeout = seconds

    async def records(self, name: str, rdtype: str) -> list[Any]:
        """The records of ``rdtype`` at ``name``; empty when there are none."""
        absolute = name if name.endswith(".") else name + "."
        try:
            answer = await self.resolver.resolve(
                absolute, rdtype, search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return []
        except dns.exception.Timeout:
            raise DnsFailure(f"{name} {rdtype}: no answer within {self.timeout:g}s") from None
        except dns.resolver.NoNameservers as exc:
            raise DnsFailure(f"{name} {rdtype}: {_servers_said(exc)}") from None
        except dns.exception.DNSException as exc:
            raise DnsFailure(f"{name} {rdtype}: {one_line(str(exc), 120)}") from None
        return list(answer.rrset or ())

    async def txt(self, name: str) -> list[str]:
        """Each TXT record at ``name`` as one string (its character-strings joined, as SPF,
        DKIM and DMARC read them)."""
        records = await self.records(name, "TXT")
        return [b"".join(r.strings).decode("utf-8", "replace") for r in records]

    async def addresses(self, name: str, rdtype: str = "A") -> list[str]:
        return [r.address for r in await self.records(name, rdtype)]


def _servers_said(exc: dns.resolver.NoNameservers) -> str:
    """SERVFAIL or REFUSED, as the resolvers answered (dnspython's text lists them all)."""
    errors = exc.kwargs.get("errors") or []
    said = sorted({str(error[3]) for error in errors if len(error) > 3 and error[3]})
    return one_line(", ".join(said) or "no resolver could answer", 120)


class AiohttpResolver(AbstractResolver):
    """Lets aiohttp (the MTA-STS policy's HTTPS) resolve through the configured resolvers."""

    def __init__(self, lookups: Dns) -> None:
        self.lookups = lookups

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found: list[ResolveResult] = []
        for rdtype, fam in (("A", socket.AF_INET), ("AAAA", socket.AF_INET6)):
            if family not in (socket.AF_UNSPEC, fam):
                continue
            for address in await self.lookups.addresses(host, rdtype):
                found.append(
                    ResolveResult(
                        hostname=host, host=address, port=port, family=fam, proto=0,
                        flags=socket.AI_NUMERICHOST,
                    )
                )  # fmt: skip
        if not found:
            raise DnsFailure(f"{host}: no address")
        return found

    async def close(self) -> None:
        pass
