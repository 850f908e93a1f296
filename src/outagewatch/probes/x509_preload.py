"""Loading cryptography before the first probe, where the config names TLS.

Here and not in tls/: which services speak TLS is read from each protocol's config, which
tls/ sits below.
"""

from __future__ import annotations

from collections.abc import Iterable

from outagewatch.config.services import (
    HttpService,
    ImapService,
    Pop3Service,
    RoundtripService,
    Service,
    SmtpService,
)


def names_tls(service: Service) -> bool:
    """Whether the config says this service speaks TLS (an HTTP redirect may still lead there)."""
    if isinstance(service, HttpService):
        urls = [service.url, *([service.login.url] if service.login else [])]
        return any(url.lower().startswith("https:") for url in urls)
    if isinstance(service, (SmtpService, ImapService, Pop3Service)):
        return service.tls != "none"
    if isinstance(service, RoundtripService):
        return service.submit.tls != "none" or service.mailbox.tls != "none"
    return True


def preload_x509(services: Iterable[Service]) -> None:
    """Before the first probe, where the config names TLS: importing cryptography takes tens
    of milliseconds that, at the first handshake, every probe in flight would measure."""
    if any(names_tls(service) for service in services):
        from cryptography import x509  # noqa: F401
