"""The certificate facts of a probe's TLS handshake, parsed from the chain as presented.

The chain is read without trusting it: an expired or unknown certificate is exactly what an
operator needs to see, so its facts come with the failed probe as with a good one.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from outagewatch.text import one_line
from outagewatch.tls.handshake import Handshake

# OpenSSL's X509_V_ERR_* codes an operator meets, in the words of an on-call mail.
VERIFY_ERRORS = {
    2: "unknown CA",  # unable to get issuer certificate
    9: "not yet valid",
    10: "expired",
    18: "unknown CA",  # self-signed leaf
    19: "unknown CA",  # self-signed certificate in the chain
    20: "unknown CA",  # unable to get local issuer certificate
    21: "unknown CA",  # unable to verify the first certificate
    62: "name mismatch",  # host name
    64: "name mismatch",  # IP address
}


@dataclass(frozen=True)
class TlsFacts:
    leaf_not_after: datetime
    chain_not_after: datetime  # the earliest not-after of the presented chain
    leaf_not_before: datetime
    subject: str
    issuer: str
    sans: tuple[str, ...]
    serial: str  # hexadecimal
    fingerprint: str  # SHA-256 of the leaf: which certificate, for "once per certificate"
    version: str
    cipher: str
    error: str | None  # the verification error named, None when verified (or not checked)

    @property
    def lifetime(self) -> float:
        return (self.leaf_not_after - self.leaf_not_before).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of ``outagewatch probe --json`` and of the API."""
        return {
            "leaf_not_after": self.leaf_not_after.isoformat(),
            "chain_not_after": self.chain_not_after.isoformat(),
            "leaf_not_before": self.leaf_not_before.isoformat(),
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": list(self.sans),
            "serial": self.serial,
            "fingerprint_sha256": self.fingerprint,
            "version": self.version,
            "cipher": self.cipher,
            "verify_error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TlsFacts:
        """Back from ``as_dict`` (the store keeps the facts as JSON)."""
        moment = datetime.fromisoformat
        return cls(
            leaf_not_after=moment(data["leaf_not_after"]),
            chain_not_after=moment(data["chain_not_after"]),
            leaf_not_before=moment(data["leaf_not_before"]),
            subject=data["subject"],
            issuer=data["issuer"],
            sans=tuple(data["sans"]),
            serial=data["serial"],
            fingerprint=data["fingerprint_sha256"],
            version=data["version"],
            cipher=data["cipher"],
            error=data["verify_error"],
        )

    def lines(self, now: datetime) -> list[str]:
        """For a terminal: what an operator asks of a certificate, one fact a line."""

        def until(moment: datetime) -> str:
            days = (moment - now).total_seconds() / 86400
            left = f"in {days:.1f} days" if days >= 0 else f"{-days:.1f} days ago"
            return f"{moment:%Y-%m-%d %H:%M:%S}Z ({left})"

        return [
            f"subject     {self.subject}",
            f"issuer      {self.issuer}",
            f"names       {', '.join(self.sans) or '(none)'}",
            f"serial      {self.serial}",
            f"leaf until  {until(self.leaf_not_after)}",
            f"chain until {until(self.chain_not_after)}",
            f"tls         {self.version} {self.cipher}",
            f"verified    {'no: ' + self.error if self.error else 'yes'}",
        ]


@functools.lru_cache(maxsize=4096)
def tls_facts(handshake: Handshake) -> TlsFacts | None:
    """Parse the presented chain; None when the server presented none we can read.

    A server presents the same chain probe after probe: parsing it again each time would
    cost the event loop a few hundred microseconds per probe, so the facts are cached by
    the handshake (chain, version, cipher, error): 4,096 distinct chains, a few MB at most."""
    # Imported at the first chain, not with the daemon: cryptography's library is 10 MB of a
    # daemon's memory, needless where nothing speaks TLS (preload_x509 keeps it off the loop).
    from cryptography import x509

    try:
        chain = [x509.load_der_x509_certificate(der) for der in handshake.chain]
    except ValueError:
        return None
    if not chain:
        return None
    leaf = chain[0]
    try:
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = tuple(
            str(name.value) for name in names if isinstance(name, (x509.DNSName, x509.IPAddress))
        )
    except (x509.ExtensionNotFound, ValueError):
        sans = ()
    return TlsFacts(
        leaf_not_after=leaf.not_valid_after_utc,
        chain_not_after=min(cert.not_valid_after_utc for cert in chain),
        leaf_not_before=leaf.not_valid_before_utc,
        subject=one_line(leaf.subject.rfc4514_string(), 160),
        issuer=one_line(leaf.issuer.rfc4514_string(), 160),
        sans=tuple(one_line(san, 100) for san in sans[:50]),
        serial=format(leaf.serial_number, "x"),
        fingerprint=hashlib.sha256(handshake.chain[0]).hexdigest(),
        version=handshake.version or "unknown",
        cipher=handshake.cipher or "unknown",
        error=_named(handshake),
    )


def _named(handshake: Handshake) -> str | None:
    if handshake.verify_code is None:
        return None
    named = VERIFY_ERRORS.get(handshake.verify_code)
    return named or one_line(handshake.verify_message or f"error {handshake.verify_code}", 80)


def most_urgent(facts: list[TlsFacts]) -> TlsFacts | None:
    """Of several handshakes (the round trip has two), the one whose chain expires first."""
    return min(facts, key=lambda f: f.chain_not_after, default=None)
