"""TLS modes and client contexts shared by the probes, the relay sender and the simulators."""

from __future__ import annotations

import functools
import ssl
from pathlib import Path
from typing import Literal

TlsMode = Literal["none", "starttls", "implicit"]
TLS_MODES: tuple[TlsMode, ...] = ("none", "starttls", "implicit")


@functools.lru_cache(maxsize=64)
def client_context(*, verify: bool = True, ca_file: Path | None = None) -> ssl.SSLContext:
    """A client context as a customer's mail client would build it.

    Verification is on unless a service explicitly says ``tls_verify: false``; ``ca_file``
    adds a trusted CA (an internal CA) on top of the system store. Contexts are shared:
    loading the system store costs tens of milliseconds of CPU, too much for every probe.
    """
    ctx = ssl.create_default_context()
    if ca_file is not None:
        ctx.load_verify_locations(cafile=str(ca_file))
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
