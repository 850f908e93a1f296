"""What a TLS handshake showed of the server: the chain as presented, the version and the
cipher, also when verification failed."""

from __future__ import annotations

import _ssl
import contextlib
import ssl
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Handshake:
    """The raw facts of one TLS handshake: the chain as the server presented it (leaf first,
    DER, not trusted), the negotiated version and cipher, and the verification error."""

    chain: tuple[bytes, ...]
    version: str | None
    cipher: str | None
    verify_code: int | None = None
    verify_message: str | None = None


class CapturingSSLObject(ssl.SSLObject):
    """An SSLObject that keeps the presented chain of a handshake that failed verification.

    OpenSSL still holds the peer's chain after it rejected it, but asyncio drops the
    SSLObject with the failed handshake; the facts travel on the exception instead, which
    aiohttp and aiosmtplib wrap without copying. Python 3.13 has a public
    ``get_unverified_chain()``; 3.11 offers it on the private ``_sslobj`` only.
    """

    def do_handshake(self) -> None:
        try:
            super().do_handshake()
        except ssl.SSLCertVerificationError as exc:
            # The facts are a bonus: failing to read them must not change the verdict.
            with contextlib.suppress(Exception):
                exc.handshake = handshake_of(self, exc)  # type: ignore[attr-defined]
            raise


def handshake_of(ssl_object: Any, error: ssl.SSLCertVerificationError | None = None) -> Handshake:
    """What ``ssl_object`` (an ``ssl.SSLObject`` or ``SSLSocket``) saw of the server."""
    native: Any = getattr(ssl_object, "_sslobj", None)
    raw = native.get_unverified_chain() if hasattr(native, "get_unverified_chain") else None
    chain = tuple(cert.public_bytes(_ssl.ENCODING_DER) for cert in raw or ())
    if not chain:  # no private API (another Python): the leaf at least
        leaf = ssl_object.getpeercert(binary_form=True)
        chain = (leaf,) if leaf else ()
    cipher = ssl_object.cipher()
    return Handshake(
        chain=chain,
        version=ssl_object.version() or (cipher[1] if cipher else None),
        cipher=cipher[0] if cipher else None,
        verify_code=error.verify_code if error is not None else None,
        verify_message=error.verify_message if error is not None else None,
    )


def handshake_of_transport(transport: Any) -> Handshake | None:
    """The handshake of an asyncio transport (None for clear text)."""
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    return handshake_of(ssl_object) if ssl_object is not None else None


def handshake_of_error(exc: BaseException | None) -> Handshake | None:
    """The handshake a verification failure carries, however the libraries wrapped it."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        found = getattr(exc, "handshake", None)
        if isinstance(found, Handshake):
            return found
        wrapped = getattr(exc, "certificate_error", None)  # aiohttp's certificate error
        exc = wrapped if isinstance(wrapped, BaseException) else (exc.__cause__ or exc.__context__)
    return None
