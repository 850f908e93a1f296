"""One probe per protocol, each a ``ProtocolTransaction``, and the way to run one."""

from __future__ import annotations

import dataclasses

from outagewatch.config import Auth, Config, RoundtripService, Rules, Service, read_secret
from outagewatch.probes.dnsbl import probe_dnsbl
from outagewatch.probes.http import probe_http
from outagewatch.probes.imap import probe_imap
from outagewatch.probes.mailauth import probe_mailauth
from outagewatch.probes.pop3 import probe_pop3
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure, ProbeResult
from outagewatch.probes.roundtrip import probe_roundtrip
from outagewatch.probes.runner import Credentials, ProtocolTransaction, run_probe
from outagewatch.probes.smtp import probe_smtp

PROBES: dict[str, ProtocolTransaction] = {
    "http": probe_http,
    "smtp": probe_smtp,
    "imap": probe_imap,
    "pop3": probe_pop3,
    "roundtrip": probe_roundtrip,
    "dnsbl": probe_dnsbl,
    "mailauth": probe_mailauth,
}


def credentials_for(service: Service) -> Credentials | None:
    """Read the service's secrets now (they may have been rotated since start-up). The
    round trip's are the mailbox login, carrying the submission login (if any) with them."""
    if isinstance(service, RoundtripService):
        mailbox = _credentials(service.mailbox_auth)
        submit = _credentials(service.submit_auth)
        return mailbox and dataclasses.replace(mailbox, submit=submit)
    return _credentials(service.auth)


def _credentials(auth: Auth | None) -> Credentials | None:
    if auth is None:
        return None
    return Credentials(auth.username, read_secret(auth), auth.mechanism)


async def probe_service(service: Service, rules: Rules) -> ProbeResult:
    return await run_probe(
        PROBES[service.protocol],
        service,
        limit=rules.probe_timeout.total_seconds(),
        credentials=credentials_for(service),
    )


async def probe_configured(config: Config, platform: str, service: str) -> ProbeResult:
    return await probe_service(
        config.service(platform, service), config.rules_for(platform, service)
    )


__all__ = [
    "PROBES",
    "Credentials",
    "ErrorKind",
    "PhaseTimer",
    "ProbeFailure",
    "ProbeResult",
    "ProtocolTransaction",
    "credentials_for",
    "probe_configured",
    "probe_service",
    "run_probe",
]
