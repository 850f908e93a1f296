"""DKIM key records for the tests: a real RSA or Ed25519 key, or a weak RSA modulus."""

from __future__ import annotations

import base64
import functools
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

DER = serialization.Encoding.DER
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
RAW = serialization.Encoding.Raw


@functools.cache
def rsa_record(bits: int = 2048) -> str:
    key = rsa.generate_private_key(65537, bits).public_key()
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(key.public_bytes(DER, SPKI)).decode()


def weak_rsa_record(bits: int = 512) -> str:
    """cryptography makes no key under 1024 bits; a public modulus of ``bits`` will do."""
    modulus = secrets.randbits(bits) | (1 << (bits - 1)) | 1
    key = rsa.RSAPublicNumbers(65537, modulus).public_key()
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(key.public_bytes(DER, SPKI)).decode()


def ed25519_record() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(RAW, serialization.PublicFormat.Raw)
    return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()


def zone_txt(name: str, text: str) -> str:
    """A TXT line for a zone file, split into character-strings of at most 255 bytes."""
    parts = " ".join(f'"{text[i : i + 250]}"' for i in range(0, len(text), 250))
    return f"{name} IN TXT ( {parts} )"
