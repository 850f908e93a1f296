"""Does a domain's SPF record exist, parse, and stay within RFC 7208's 10 DNS lookups?

The lookups are counted the way RFC 7208 4.6.4 counts them for any sender: every
``include``, ``a``, ``mx``, ``ptr``, ``exists`` and ``redirect`` costs one, and includes and
redirects are followed. A domain-spec with macros (``%{i}``) depends on the sender and is
counted but not followed.

pyspf and checkdmarc count lookups too, but neither fits a probe: both resolve synchronously
(the event loop would block, or a thread would outlive the probe's time limit), pyspf's
resolver is a module-global hook, and checkdmarc keeps a process-wide cache of answers (a
monitor would see a removed record for minutes) and brings httpx and the public suffix
list. Here every lookup goes through the probe's async resolver, uncached.
"""

from __future__ import annotations

import re

from outagewatch.probes.dns_resolver import Dns
from outagewatch.probes.mail_records import RecordProblem

MAX_LOOKUPS = 10
COUNTED = frozenset({"include", "a", "mx", "ptr", "exists", "redirect"})
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
MODIFIER = re.compile(r"^([A-Za-z][A-Za-z0-9_.-]*)=(.*)$")
MECHANISM = re.compile(r"^[+?~-]?([A-Za-z][A-Za-z0-9_.-]*)(?::([^/]*))?(/.*)?$")
VERSION = re.compile(r"^v=spf1( |$)", re.IGNORECASE)


def parse_terms(domain: str, text: str) -> list[tuple[str, str]]:
    """The terms of one record as (name, value), names lower-cased (pure)."""
    found = []
    for term in text.split()[1:]:
        modifier = MODIFIER.match(term)
        if modifier:
            found.append((modifier.group(1).lower(), modifier.group(2)))
            continue
        mechanism = MECHANISM.match(term)
        name = mechanism.group(1).lower() if mechanism else ""
        if name not in MECHANISMS:
            raise RecordProblem("SPF", f"unknown term {term[:40]!r} at {domain}")
        value = (mechanism.group(2) if mechanism else None) or ""
        if name in ("include", "exists") and not value:
            raise RecordProblem("SPF", f"{name} without a domain at {domain}")
        found.append((name, value))
    return found


class SpfWalk:
    def __init__(self, lookups: Dns) -> None:
        self.dns = lookups
        self.count = 0

    async def check(self, domain: str) -> str:
        await self._record(domain, None)
        return f"{self.count} lookup(s)"

    async def _record(self, domain: str, reached_by: str | None) -> None:
        texts = [t for t in await self.dns.txt(domain) if VERSION.match(t)]
        if not texts:
            via = f" ({reached_by})" if reached_by else ""
            raise RecordProblem("SPF", f"no v=spf1 record at {domain}{via}")
        if len(texts) > 1:
            raise RecordProblem("SPF", f"{len(texts)} v=spf1 records at {domain} (one allowed)")
        terms = parse_terms(domain, texts[0])
        names = {name for name, _ in terms}
        for name, value in terms:
            if name in COUNTED and not (name == "redirect" and "all" in names):
                self._count(name, value, domain)
            if name == "include" and "%" not in value:
                await self._record(value, f"include:{value} from {domain}")
        for name, value in terms:
            if name == "redirect" and "all" not in names and "%" not in value:
                await self._record(value, f"redirect={value} from {domain}")

    def _count(self, name: str, value: str, domain: str) -> None:
        self.count += 1
        if self.count > MAX_LOOKUPS:
            term = f"{name}:{value}" if value else name
            raise RecordProblem(
                "SPF",
                f"more than {MAX_LOOKUPS} DNS lookups (RFC 7208 4.6.4); "
                f"the 11th is {term} at {domain}",
            )
