"""What the mail-authentication records say, judged without I/O (pure functions).

Each ``*_verdict`` takes the TXT records found at the record's name and returns a short
"ok" text, or raises ``RecordProblem`` naming the record and what is wrong with it. DKIM
keys are read by dkimpy (``dkim.evaluate_pk``, what its verifier runs on a key record);
Ed25519 keys by ``cryptography``, since dkimpy reads those only with PyNaCl installed.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

import dkim
import dkim.util

MIN_RSA_BITS = 1024
STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
STS_MODES = ("enforce", "testing", "none")
MAX_AGE = 31_557_600  # RFC 8461 3.2: a year at most
DMARC_POLICIES = ("none", "quarantine", "reject")


class RecordProblem(Exception):
    """A record that is missing or wrong: ``record`` names it (e.g. "DMARC")."""

    def __init__(self, record: str, problem: str) -> None:
        super().__init__(f"{record}: {problem}")
        self.record = record
        self.problem = problem


def tags(record: str, text: str) -> dict[str, str]:
    """A tag=value list (RFC 6376 3.2, which DMARC, MTA-STS and TLS-RPT share)."""
    found: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not sep or not name:
            raise RecordProblem(record, f"{part.strip()!r} is not tag=value")
        if name in found:
            raise RecordProblem(record, f"tag {name} appears twice")
        found[name] = value.strip()
    return found


def one_record(record: str, name: str, texts: list[str], version: str) -> str:
    """The one record at ``name`` that starts with ``version`` (others are ignored, as
    receivers do); none or several is the problem."""
    mine = [t for t in texts if re.match(rf"{re.escape(version)}\s*(;|$)", t, re.IGNORECASE)]
    if not mine:
        raise RecordProblem(record, f"no {version} record at {name}")
    if len(mine) > 1:
        raise RecordProblem(
            record, f"{len(mine)} {version} records at {name}, receivers ignore all"
        )
    return mine[0]


def dmarc_verdict(name: str, texts: list[str]) -> str:
    found = tags("DMARC", one_record("DMARC", name, texts, "v=DMARC1"))
    policy = found.get("p")
    if policy is None:
        raise RecordProblem("DMARC", f"no policy (p=) at {name}")
    if policy.lower() not in DMARC_POLICIES:
        raise RecordProblem("DMARC", f"p={policy} is not none, quarantine or reject")
    return f"p={policy.lower()}"


def dkim_verdict(selector: str, name: str, texts: list[str]) -> str:
    record = f"DKIM {selector}"
    keys = [t for t in texts if "p=" in t.replace(" ", "")]
    if not keys:
        raise RecordProblem(record, f"no key record at {name}")
    if len(keys) > 1:
        raise RecordProblem(record, f"{len(keys)} key records at {name}")
    try:
        found = dkim.util.parse_tag_value(keys[0].encode())
    except dkim.util.InvalidTagValueList as exc:
        raise RecordProblem(record, f"does not parse: {exc}") from None
    if not found.get(b"p"):
        raise RecordProblem(record, "the key is revoked (empty p=)")
    if found.get(b"k") == b"ed25519":
        return _ed25519(record, found[b"p"])
    try:
        _, bits, kind, _ = dkim.evaluate_pk(name.encode(), keys[0].encode())
    except dkim.DKIMException as exc:
        raise RecordProblem(record, f"unusable key: {str(exc)[:80]}") from None
    if kind == b"rsa" and bits < MIN_RSA_BITS:
        raise RecordProblem(record, f"RSA key of {bits} bits, at least {MIN_RSA_BITS} needed")
    return f"{kind.decode()}-{bits}"


def _ed25519(record: str, key: bytes) -> str:
    # Imported here: a daemon without a mailauth service never loads cryptography.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key, validate=True))
    except (binascii.Error, ValueError):
        raise RecordProblem(record, "the Ed25519 key is not 32 bytes of base64") from None
    return "ed25519"


def mta_sts_txt_verdict(name: str, texts: list[str]) -> str:
    found = tags("MTA-STS", one_record("MTA-STS", name, texts, "v=STSv1"))
    if not STS_ID.match(found.get("id", "")):
        raise RecordProblem("MTA-STS", f"id= must be 1-32 letters or digits at {name}")
    return found["id"]


@dataclass(frozen=True)
class StsPolicy:
    mode: str
    mx: tuple[str, ...]
    max_age: int


def mta_sts_policy(body: str) -> StsPolicy:
    """RFC 8461 3.2: ``key: value`` lines; version, mode, max_age and (unless mode is
    none) at least one mx are required."""
    values: dict[str, list[str]] = {}
    for line in body.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            values.setdefault(key.strip().lower(), []).append(value.strip())
    record = "MTA-STS policy"
    if values.get("version") != ["STSv1"]:
        raise RecordProblem(record, "version must be STSv1")
    mode = (values.get("mode") or [""])[0]
    if mode not in STS_MODES:
        raise RecordProblem(record, f"mode {mode or '(none)'} is not enforce, testing or none")
    age = (values.get("max_age") or [""])[0]
    if not age.isdigit() or int(age) > MAX_AGE:
        raise RecordProblem(record, f"max_age {age or '(none)'} is not 0-{MAX_AGE}")
    mx = tuple(values.get("mx", ()))
    if mode != "none" and not mx:
        raise RecordProblem(record, "no mx line")
    return StsPolicy(mode, mx, int(age))


def unlisted_mx(policy: StsPolicy, hosts: list[str]) -> list[str]:
    """The MX hosts that the policy's ``mx`` patterns do not cover (RFC 8461 4.1: a pattern
    is a name, or ``*.`` and a name, matching exactly one more label); senders enforcing
    the policy would refuse to deliver to them."""
    patterns = [p.lower().rstrip(".") for p in policy.mx]

    def covered(host: str) -> bool:
        host = host.lower().rstrip(".")
        parent = host.partition(".")[2]
        return any(p == host or (p.startswith("*.") and p[2:] == parent) for p in patterns)

    return [host for host in hosts if not covered(host)]


def tls_rpt_verdict(name: str, texts: list[str]) -> str:
    found = tags("TLS-RPT", one_record("TLS-RPT", name, texts, "v=TLSRPTv1"))
    uris = [u.strip() for u in found.get("rua", "").split(",") if u.strip()]
    if not uris:
        raise RecordProblem("TLS-RPT", f"no rua= at {name}")
    bad = [u for u in uris if not u.lower().startswith(("mailto:", "https://"))]
    if bad:
        raise RecordProblem("TLS-RPT", f"rua {bad[0][:60]} is neither mailto: nor https:")
    return f"{len(uris)} rua"
