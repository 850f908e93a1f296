"""TLS modes and the client contexts shared by the probes, the relay sender and the
simulators."""

from __future__ import annotations

import functools
import ssl
from pathlib import Path
from typing import Literal

from outagewatch.tls.handshake import CapturingSSLObject

TlsMode = Literal["none", "starttls", "implicit"]
TLS_MODES: tuple[TlsMode, ...] = ("none", "starttls", "implicit")


@functools.lru_cache(maxsize=64)
def client_context(*, verify: bool = True, ca_file: Path | None = None) -> ssl.SSLContext:
    """A client context as a customer's mail client would build it.

    Verification is on unless a service explicitly says ``tls_verify: false``; ``ca_file``
    adds a trusted CA (an internal CA) on top of the system store. Contexts are shared:
    loading the system store costs tens of milliseconds of CPU, too much for every probe.
    No connection is ever given a saved ``session``, so every handshake is a full one and
    presents the certificate (a resumed one would present none).
    """
    ctx = ssl.create_default_context()
    ctx.sslobject_class = CapturingSSLObject
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
