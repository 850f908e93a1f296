"""DNS blocklist probe: is any of the platform's outbound addresses listed in any zone?

Phases: ``lookup`` (the A records of every address in every zone, asked at once) and
``reason`` (the TXT record of each listing, which usually names the cause and a delisting
page). An answer in 127.0.0.0/8 is a listing (RFC 5782), except 127.255.255.0/24: Spamhaus
answers so when it refuses the query (a public resolver, too many queries, a typo), which is
an error of that list, not a listing. A list that cannot be asked does not hide a listing
found in another: the listing is reported first.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass

from outagewatch.config import DnsblService
from outagewatch.probes.dns_resolver import Dns, DnsFailure
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.probes.runner import Credentials
from outagewatch.text import one_line

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
REFUSED = ipaddress.ip_network("127.255.255.0/24")
LINK = re.compile(r"https?://[^\s\"'<>]+")
IN_FLIGHT = 16  # queries at once: up to 64 addresses x 32 zones must not flood a resolver
SPAMHAUS_ERRORS = {
    "127.255.255.252": "typing error in the DNSBL name",
    "127.255.255.254": "query through a public or open resolver",
    "127.255.255.255": "excessive number of queries",
}


@dataclass(frozen=True)
class Answer:
    address: str
    zone: str
    name: str  # what was asked: the reversed address under the zone
    codes: tuple[str, ...] = ()  # the 127.0.0.x listing codes
    error: str | None = None  # the list could not say

    @property
    def listed(self) -> bool:
        return bool(self.codes)


def query_name(address: ipaddress.IPv4Address | ipaddress.IPv6Address, zone: str) -> str:
    """RFC 5782: IPv4 octets reversed; IPv6 nibbles reversed."""
    reverse = address.reverse_pointer.removesuffix(".in-addr.arpa").removesuffix(".ip6.arpa")
    return f"{reverse}.{zone.rstrip('.')}"


def judge(address: str, zone: str, name: str, answers: list[str]) -> Answer:
    """What a blocklist's A answers mean (pure)."""
    codes, errors = [], []
    for text in answers:
        ip = ipaddress.ip_address(text)
        if ip in REFUSED:
            errors.append(f"{text} ({SPAMHAUS_ERRORS.get(text, 'the list refused the query')})")
        elif ip in LOOPBACK:
            codes.append(text)
        else:  # a lapsed list's domain may answer everything with a web server's address
            errors.append(f"{text} is no listing code (not in 127.0.0.0/8)")
    if errors:
        return Answer(address, zone, name, error="answered " + ", ".join(sorted(errors)))
    return Answer(address, zone, name, tuple(sorted(codes)))


async def probe_dnsbl(
    service: DnsblService, credentials: Credentials | None, timer: PhaseTimer
) -> str:
    lookups = Dns(service.dns)
    gate = asyncio.Semaphore(IN_FLIGHT)
    timer.phase("lookup")
    answers = await asyncio.gather(
        *(_ask(lookups, gate, str(a), zone) for a in service.addresses for zone in service.zones)
    )
    listed = [a for a in answers if a.listed]
    timer.phase("reason")
    reasons = await asyncio.gather(*(_reason(lookups, gate, a) for a in listed))
    failed = [a for a in answers if a.error is not None]
    if listed:
        text = "; ".join(_listing(a, r) for a, r in zip(listed, reasons, strict=True))
        more = f"; {len(failed)} list(s) could not answer" if failed else ""
        raise ProbeFailure(ErrorKind.PROTOCOL, f"listed: {text}{more}")
    if failed:
        timer.phase("lookup")  # "during" names where the list failed
        first = failed[0]
        text = "; ".join(f"{a.zone} for {a.address}: {a.error}" for a in failed)
        lookup = first.error is not None and first.error.startswith("lookup")
        kind = ErrorKind.DNS if lookup else ErrorKind.PROTOCOL
        raise ProbeFailure(kind, f"list error: {text}")
    return f"not listed: {len(service.addresses)} address(es) in {', '.join(service.zones)}"


async def _ask(lookups: Dns, gate: asyncio.Semaphore, address: str, zone: str) -> Answer:
    name = query_name(ipaddress.ip_address(address), zone)
    try:
        async with gate:
            found = await lookups.addresses(name)
    except DnsFailure as exc:
        return Answer(address, zone, name, error=f"lookup failed: {exc.detail}")
    return judge(address, zone, name, found)


async def _reason(lookups: Dns, gate: asyncio.Semaphore, answer: Answer) -> str:
    try:
        async with gate:
            texts = await lookups.txt(answer.name)
    except DnsFailure:
        return ""  # the listing stands without its reason
    return " | ".join(texts)


def _listing(answer: Answer, reason: str) -> str:
    """Address, zone and codes first, then the delisting link, then the list's words: the
    detail is cut at 200 characters, and on-call needs the first three most."""
    link = LINK.search(reason)
    delist = f", delist: {one_line(link.group(0), 100)}" if link else ""
    words = one_line(LINK.sub("", reason).strip(" :-|"), 80)
    said = f": {words}" if words else ""
    return f"{answer.address} in {answer.zone} ({', '.join(answer.codes)}{delist}){said}"
