"""Concerns: what a probe saw that is not a failure but is not right either.

A round trip whose mail arrived is a good sample, but it may have arrived in Junk, or
without passing SPF, DKIM or DMARC. Such a sample carries its concerns at the start of its
detail, one ``name: …`` segment each, separated by "; " (``unauthenticated: spf=fail
dkim=pass dmarc=fail; junk: in Junk, …``). The detail is what the store keeps of every
sample, so ``concerns_of`` reads them back from a live result and a stored sample alike.
"""

from __future__ import annotations

from enum import StrEnum


class Concern(StrEnum):
    UNAUTHENTICATED = "unauthenticated"  # SPF, DKIM or DMARC did not pass (expect_auth)
    JUNK = "junk"  # the probe mail was filed as spam


def concerns_of(detail: str) -> list[Concern]:
    """The concerns at the start of a detail, in order (pure)."""
    found = []
    for segment in detail.split("; "):
        head, sep, _ = segment.partition(": ")
        if not sep or head not in Concern.__members__.values():
            break
        found.append(Concern(head))
    return found


def with_concern(concern: Concern, text: str, detail: str) -> str:
    return f"{concern}: {text}; {detail}"
