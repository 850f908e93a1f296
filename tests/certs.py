"""Certificates for the TLS facts tests: trustme for the usual cases, and (with
``cryptography`` directly) an intermediate CA whose not-after the test chooses, which
trustme cannot set."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)
NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Case:
    """A server certificate (as the server's context) and what the probe must report."""

    name: str
    server: ssl.SSLContext
    leaf_not_after: datetime.datetime
    chain_not_after: datetime.datetime
    error: str | None
    chain_pem: bytes  # the same, as files for a server configured by path (Dovecot)
    key_pem: bytes


def _context(chain_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "chain.pem").write_bytes(chain_pem)
        (Path(tmp) / "key.pem").write_bytes(key_pem)
        ctx.load_cert_chain(Path(tmp) / "chain.pem", Path(tmp) / "key.pem")
    return ctx


def _trustme_case(
    name: str, ca: trustme.CA, identities: tuple[str, ...], not_after: datetime.datetime,
    error: str | None, not_before: datetime.datetime | None = None,
) -> Case:  # fmt: skip
    leaf = ca.issue_cert(*identities, not_before=not_before or NOW - DAY, not_after=not_after)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(ctx)
    chain = b"".join(pem.bytes() for pem in leaf.cert_chain_pems)
    # trustme's own CA lives for decades: the leaf is the earliest of the presented chain.
    return Case(
        name, ctx, _second(not_after), _second(not_after), error, chain,
        leaf.private_key_pem.bytes(),
    )  # fmt: skip


def _second(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(microsecond=0)


def cases(ca: trustme.CA) -> list[Case]:
    """Every case the issue names; ``ca`` is the one the probes trust."""
    stranger = trustme.CA()
    year = NOW + 300 * DAY
    return [
        _trustme_case("valid", ca, NAMES, year, None),
        _trustme_case("expires-in-5-days", ca, NAMES, NOW + 5 * DAY, None),
        _trustme_case("expired", ca, NAMES, NOW - 2 * DAY, "expired", NOW - 90 * DAY),
        _trustme_case("unknown-ca", stranger, NAMES, year, "unknown CA"),
        _trustme_case("wrong-name", ca, ("mail.example.org",), year, "name mismatch"),
        short_intermediate(ca, intermediate_days=20, leaf_days=200),
    ]


def short_intermediate(ca: trustme.CA, *, intermediate_days: int, leaf_days: int) -> Case:
    """root (``ca``, trusted) -> an intermediate expiring first -> the leaf.

    The root signs the intermediate with trustme's key: trustme has no public way to set a
    child CA's not-after, so the intermediate is built here.
    """
    root_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), None)
    root_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    mid_key = ec.generate_private_key(ec.SECP256R1())
    mid_not_after = _second(NOW + intermediate_days * DAY)
    mid_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "short-lived intermediate")])
    mid = (
        x509.CertificateBuilder()
        .subject_name(mid_name)
        .issuer_name(root_cert.subject)
        .public_key(mid_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(mid_not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(mid_key.public_key()), False)
        .sign(root_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_not_after = _second(NOW + leaf_days * DAY)
    sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in NAMES[1:]]
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(mid_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(leaf_not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(mid_key.public_key()), False
        )
        .sign(mid_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain = leaf.public_bytes(pem) + mid.public_bytes(pem)
    ctx = _context(chain, key_pem)
    return Case(
        "intermediate-expires-first", ctx, leaf_not_after, mid_not_after, None, chain, key_pem
    )
