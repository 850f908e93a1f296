"""HTTP probe for webmail: GET (status and optional body text), then an optional login POST.

Every probe opens a fresh connection and resolves the name again, as a user arriving at the
login page does; aiohttp's tracing hooks time the phases. aiohttp performs the TCP connect
and the TLS handshake in one step, so for https the ``connect`` phase includes TLS.
"""

from __future__ import annotations

import ssl
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any

import aiohttp

from outagewatch.config import HttpService
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.probes.runner import Credentials
from outagewatch.probes.text import decode
from outagewatch.tls import client_context, handshake_of_transport

MAX_BODY = 1 << 20  # enough for any login page; a hostile server cannot make us buffer more


def _phase_tracing() -> aiohttp.TraceConfig:
    """aiohttp's hooks moving the probe's own timer (``trace_request_ctx``) from phase to
    phase. One config for every probe: building one per probe was a tenth of its CPU."""

    def to(phase: str) -> Any:
        async def hook(session: Any, ctx: SimpleNamespace, params: Any) -> None:
            ctx.trace_request_ctx.phase(phase)

        return hook

    trace = aiohttp.TraceConfig()
    trace.on_dns_resolvehost_start.append(to("dns"))
    trace.on_connection_create_start.append(to("connect"))
    trace.on_request_headers_sent.append(to("first_byte"))
    trace.on_request_end.append(to("body"))
    trace.freeze()
    return trace


PHASES = _phase_tracing()
HEADERS = {"User-Agent": "outagewatch probe"}
# The timer of the probe whose request is connecting: the connector is shared by every probe,
# but each request connects inside its own probe's task, which sees its own value.
_PROBE_TIMER: ContextVar[PhaseTimer | None] = ContextVar("probe_timer", default=None)


class _RecordingConnector(aiohttp.TCPConnector):
    """Hands the TLS facts of each new connection to the timer of the probe that made it.

    A response releases (and, with force_close, closes) its connection as soon as a short
    body is in, so the transport is caught where the connector makes it. aiohttp has no
    public hook for the transport; ``_wrap_create_connection`` has been its seam since 3.0.
    """

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:
        transport, protocol = await super()._wrap_create_connection(*args, **kwargs)
        timer = _PROBE_TIMER.get()
        if timer is not None:
            timer.saw_tls(handshake_of_transport(transport))
        return transport, protocol


class HttpClient:
    """One session for the daemon's plain GET probes, instead of a session, a connector and a
    trace config built and torn down for every probe (a quarter of an HTTP probe's CPU).

    It shares nothing between probes that a user's first visit would not have: the connector
    closes every connection after its request (``force_close``), so each probe connects and
    handshakes TLS afresh (Python's ssl resumes no client session unless told to); it
    resolves the name again (no DNS cache), waits for no pool slot (no limit) and keeps no
    cookies. Probes with a login form keep a session of their own: the login may need the
    cookies of its GET.
    """

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = _RecordingConnector(
                force_close=True, use_dns_cache=False, limit=0, limit_per_host=0
            )
            self._session = _session(connector, aiohttp.DummyCookieJar())
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _session(
    connector: aiohttp.TCPConnector, cookies: aiohttp.abc.AbstractCookieJar | None = None
) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=connector,
        cookie_jar=cookies,
        trace_configs=[PHASES],
        timeout=aiohttp.ClientTimeout(total=None),  # the runner bounds the transaction
        headers=HEADERS,
    )


async def probe_http(
    service: HttpService,
    credentials: Credentials | None,
    timer: PhaseTimer,
    client: HttpClient | None = None,
) -> str:
    tls = client_context(verify=service.tls_verify, ca_file=service.ca_file)
    timer.phase("dns")
    try:
        if client is not None and service.login is None:
            return await _get_page(client.session(), service, tls, timer)
        connector = _RecordingConnector(ssl=tls, force_close=True, use_dns_cache=False)
        async with _session(connector) as session:
            detail = await _get_page(session, service, tls, timer)
            if service.login is not None and credentials is not None:
                timer.phase("login")
                form = {
                    service.login.username_field: credentials.username,
                    service.login.password_field: credentials.password,
                }
                status, body = await _fetch(session, "POST", service.login.url, form, tls, timer)
                login = service.login
                _expect(status, body, login.expect_status, login.expect_body, ErrorKind.AUTH)
                detail += f", login {status}"
            return detail
    except aiohttp.ClientConnectorDNSError as exc:
        raise ProbeFailure(ErrorKind.DNS, f"cannot resolve {exc.host}") from None
    except aiohttp.ClientConnectorCertificateError as exc:
        # The verification error itself: it names the problem and carries the chain.
        raise exc.certificate_error from None
    except aiohttp.ClientSSLError as exc:
        raise ProbeFailure(ErrorKind.TLS, f"TLS failed: {exc.os_error}") from None
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, ConnectionRefusedError):
            raise ProbeFailure(ErrorKind.REFUSED, f"{exc.host}:{exc.port} refused") from None
        raise ProbeFailure(ErrorKind.REFUSED, f"cannot connect: {exc.strerror}") from None
    except aiohttp.ServerDisconnectedError:
        raise ProbeFailure(ErrorKind.PROTOCOL, "the server closed the connection") from None
    except aiohttp.ClientResponseError as exc:
        raise ProbeFailure(ErrorKind.PROTOCOL, f"bad HTTP response: {exc.message}") from None
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        raise ProbeFailure(ErrorKind.PROTOCOL, f"{type(exc).__name__}: {exc}") from None


async def _get_page(
    session: aiohttp.ClientSession, service: HttpService, tls: ssl.SSLContext, timer: PhaseTimer
) -> str:
    status, body = await _fetch(session, "GET", service.url, None, tls, timer)
    _expect(status, body, service.expect_status, service.expect_body, ErrorKind.UNEXPECTED)
    return f"GET {status}"


async def _fetch(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    form: dict[str, str] | None,
    tls: ssl.SSLContext,
    timer: PhaseTimer,
) -> tuple[int, bytes]:
    token = _PROBE_TIMER.set(timer)
    try:
        async with session.request(
            method, url, data=form, ssl=tls, trace_request_ctx=timer
        ) as response:
            return response.status, await response.content.read(MAX_BODY)
    finally:
        _PROBE_TIMER.reset(token)


def _expect(
    status: int, body: bytes, want_status: int, want_text: str | None, kind: ErrorKind
) -> None:
    if status != want_status:
        raise ProbeFailure(kind, f"status {status}, expected {want_status}: {decode(body, 80)!r}")
    if want_text is not None and want_text.encode() not in body:
        raise ProbeFailure(kind, f"status {status} but the page lacks {want_text!r}")
