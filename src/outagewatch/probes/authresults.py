"""The round trip's reading of its delivered mail's ``Authentication-Results`` (RFC 8601).

Only the header fields are fetched (``BODY.PEEK[HEADER.FIELDS (…)]``, so the mail is not
marked seen), within the IMAP client's line and byte limits. For each of SPF, DKIM and
DMARC the result of the topmost header that reports it counts: headers are prepended on
the way, so the topmost was added last, by the receiving platform; one a sender forged
further down does not override it. Parsing is authres's.
"""

from __future__ import annotations

from email.parser import BytesHeaderParser

import authres

from outagewatch.probes.imap_client import LITERAL, ImapConnection, expect_ok
from outagewatch.text import one_line

HEADER = "Authentication-Results"
METHODS = ("spf", "dkim", "dmarc")


async def fetch_results(imap: ImapConnection, uid: str) -> list[str]:
    """The message's Authentication-Results values, topmost first (its folder selected)."""
    fields = f"(BODY.PEEK[HEADER.FIELDS ({HEADER.upper()})])"
    response = await imap.command("UID", "FETCH", uid, fields)
    expect_ok(response, "UID FETCH header")
    block = b""
    for line in response.untagged:
        literal = LITERAL.search(line)
        if literal is not None:
            size = int(literal.group(1))
            block += line[literal.end() : literal.end() + size]
    message = BytesHeaderParser().parsebytes(block)
    return [str(value) for value in message.get_all(HEADER, [])]


def results(headers: list[str]) -> dict[str, str]:
    """Each method's result ("none" when no header reports it), pure."""
    found: dict[str, str] = {}
    for value in headers:
        try:
            parsed = authres.AuthenticationResultsHeader.parse(f"{HEADER}: {value}")
        except authres.AuthResError:
            continue  # a header that does not parse says nothing we could trust
        for result in parsed.results:
            method = str(result.method).lower()
            if method in METHODS and method not in found:
                found[method] = str(result.result).lower()
    return {method: found.get(method, "none") for method in METHODS}


def summary(found: dict[str, str]) -> tuple[bool, str]:
    """Whether SPF, DKIM and DMARC all passed, and ``spf=pass dkim=fail dmarc=none``."""
    text = " ".join(f"{method}={one_line(found[method], 20)}" for method in METHODS)
    return all(found[method] == "pass" for method in METHODS), text
