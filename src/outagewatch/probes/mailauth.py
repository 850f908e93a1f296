"""Mail-authentication probe: SPF, DMARC, each DKIM selector's key and, with
``mta_sts: true``, the MTA-STS record, its policy over HTTPS, and the TLS-RPT record.

Every check runs and has a verdict, in its own phase (``spf``, ``dmarc``, ``dkim``,
``mta_sts``, ``tls_rpt``); the detail lists the failures first (it is cut at 200
characters), then the names of the checks that passed. The sample fails when any check
does, with the error kind of the first failure (``protocol`` for a wrong or missing
record, ``dns`` when DNS could not answer, ``tls`` or ``refused`` for the policy's
HTTPS), "during" the phase of that check.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from outagewatch.config import MailauthService
from outagewatch.probes.dns_resolver import AiohttpResolver, Dns
from outagewatch.probes.mail_records import (
    RecordProblem,
    dkim_verdict,
    dmarc_verdict,
    mta_sts_policy,
    mta_sts_txt_verdict,
    tls_rpt_verdict,
    unlisted_mx,
)
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.probes.runner import Credentials, classify
from outagewatch.probes.spf import SpfWalk
from outagewatch.text import one_line
from outagewatch.tls.contexts import client_context

MAX_POLICY = 64 * 1024  # RFC 8461 3.3: senders may refuse larger policies
POLICY_PATH = "/.well-known/mta-sts.txt"


@dataclass(frozen=True)
class Verdict:
    phase: str
    label: str
    text: str
    kind: ErrorKind | None = None  # None: the check passed


Check = Callable[[], Awaitable[str]]


async def probe_mailauth(
    service: MailauthService, credentials: Credentials | None, timer: PhaseTimer
) -> str:
    lookups = Dns(service.dns)
    domain = service.domain.rstrip(".")
    checks: list[tuple[str, str, Check]] = [
        ("spf", "spf", lambda: SpfWalk(lookups).check(domain)),
        ("dmarc", "dmarc", lambda: _dmarc(lookups, domain)),
    ]
    for selector in service.dkim_selectors:
        checks.append(("dkim", f"dkim {selector}", _dkim_check(lookups, domain, selector)))
    if service.mta_sts:
        checks.append(("mta_sts", "mta-sts", lambda: _mta_sts(service, lookups, domain)))
        checks.append(("tls_rpt", "tls-rpt", lambda: _tls_rpt(lookups, domain)))
    verdicts = []
    for phase, label, check in checks:
        timer.phase(phase)
        verdicts.append(await _run(phase, label, check))
    failed = [v for v in verdicts if v.kind is not None]
    if not failed:
        return "; ".join(f"{v.label} ok ({v.text})" for v in verdicts)
    passed = [v.label for v in verdicts if v.kind is None]
    detail = "; ".join(
        [*(v.text for v in failed), *(["ok: " + ", ".join(passed)] if passed else [])]
    )
    timer.phase(failed[0].phase)  # "during" names the failed check, not the last one
    raise ProbeFailure(failed[0].kind or ErrorKind.PROTOCOL, detail)


async def _run(phase: str, label: str, check: Check) -> Verdict:
    try:
        return Verdict(phase, label, await check())
    except RecordProblem as exc:
        return Verdict(phase, label, str(exc), ErrorKind.PROTOCOL)
    except ProbeFailure as exc:  # DNS could not answer
        return Verdict(phase, label, f"{label}: {exc.detail}", exc.kind)


async def _dmarc(lookups: Dns, domain: str) -> str:
    name = f"_dmarc.{domain}"
    return dmarc_verdict(name, await lookups.txt(name))


def _dkim_check(lookups: Dns, domain: str, selector: str) -> Check:
    async def check() -> str:
        name = f"{selector}._domainkey.{domain}"
        return dkim_verdict(selector, name, await lookups.txt(name))

    return check


async def _tls_rpt(lookups: Dns, domain: str) -> str:
    name = f"_smtp._tls.{domain}"
    return tls_rpt_verdict(name, await lookups.txt(name))


async def _mta_sts(service: MailauthService, lookups: Dns, domain: str) -> str:
    name = f"_mta-sts.{domain}"
    policy_id = mta_sts_txt_verdict(name, await lookups.txt(name))
    policy = mta_sts_policy(await fetch_policy(service, lookups, domain))
    if policy.mode != "none":
        hosts = [str(r.exchange) for r in await lookups.records(domain, "MX")]
        outside = unlisted_mx(policy, hosts)
        if outside:
            problem = f"MX {outside[0].rstrip('.')} is not covered by the policy's mx lines"
            raise RecordProblem("MTA-STS policy", problem)
    return f"{policy.mode}, {len(policy.mx)} mx, max_age {policy.max_age}, id {policy_id}"


async def fetch_policy(service: MailauthService, lookups: Dns, domain: str) -> str:
    """The policy text from https://mta-sts.DOMAIN/.well-known/mta-sts.txt: the host
    resolved through the probe's resolvers, no redirects (RFC 8461 3.3), at most 64 KiB."""
    port = f":{service.mta_sts_port}" if service.mta_sts_port else ""
    url = f"https://mta-sts.{domain}{port}{POLICY_PATH}"
    tls = client_context(verify=service.tls_verify, ca_file=service.ca_file)
    connector = aiohttp.TCPConnector(
        resolver=AiohttpResolver(lookups), ssl=tls, force_close=True, use_dns_cache=False
    )
    try:
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise RecordProblem("MTA-STS policy", f"HTTP {response.status} from {url}")
            if response.content_type != "text/plain":
                kind = one_line(response.content_type, 40)
                raise RecordProblem("MTA-STS policy", f"Content-Type {kind}, not text/plain")
            body = await response.content.read(MAX_POLICY + 1)
    except (aiohttp.ClientError, ssl.SSLError, OSError) as exc:
        kind, text = classify(_cause(exc))
        raise ProbeFailure(kind, f"policy {url}: {text}") from None
    if len(body) > MAX_POLICY:
        raise RecordProblem("MTA-STS policy", f"larger than {MAX_POLICY // 1024} KiB")
    return body.decode("utf-8", "replace")


def _cause(exc: BaseException) -> BaseException:
    """What aiohttp wrapped: the certificate error, or the OS error of the connection."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return exc.certificate_error
    if isinstance(exc, aiohttp.ClientConnectorError):
        return exc.os_error
    return exc
