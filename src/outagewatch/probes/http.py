"""HTTP probe for webmail: GET (status and optional body text), then an optional login POST.

Every probe opens a fresh connection and resolves the name again, as a user arriving at the
login page does. A plain GET is spoken by ``http_get`` (phases ``dns``, ``connect``, ``tls``,
``first_byte``, ``body``). A login needs a client session (the form's POST carries the
cookies of the GET): that probe runs in an aiohttp session of its own, whose tracing hooks
time the phases; aiohttp performs the TCP connect and the TLS handshake in one step, so
there the ``connect`` phase includes TLS.
"""

from __future__ import annotations

import ssl
from types import SimpleNamespace
from typing import Any

import aiohttp
from yarl import URL

from outagewatch.config import HttpService
from outagewatch.probes import http_get
from outagewatch.probes.http_get import (
    MAX_BODY,
    MAX_HEAD_LINE,
    MAX_HEADER_LINES,
    TOO_MANY_HEADER_LINES,
    USER_AGENT,
)
from outagewatch.probes.result import ErrorKind, PhaseTimer, ProbeFailure
from outagewatch.probes.runner import Credentials
from outagewatch.text import decode
from outagewatch.tls.contexts import client_context
from outagewatch.tls.handshake import handshake_of_transport


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


class _RecordingConnector(aiohttp.TCPConnector):
    """Hands the TLS facts of each new connection to the probe's timer.

    A response releases (and, with force_close, closes) its connection as soon as a short
    body is in, so the transport is caught where the connector makes it. aiohttp has no
    public hook for the transport; ``_wrap_create_connection`` has been its seam since 3.0.
    """

    def __init__(self, timer: PhaseTimer, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timer = timer

    async def _wrap_create_connection(self, *args: Any, **kwargs: Any) -> Any:
        transport, protocol = await super()._wrap_create_connection(*args, **kwargs)
        self.timer.saw_tls(handshake_of_transport(transport))
        return transport, protocol


async def probe_http(
    service: HttpService, credentials: Credentials | None, timer: PhaseTimer
) -> str:
    tls = client_context(verify=service.tls_verify, ca_file=service.ca_file)
    login = service.login
    if login is None or credentials is None:
        page = await http_get.get(service.url, tls, timer)
        _expect_page(service, page.status, page.body)
        return f"GET {page.status}"
    timer.phase("dns")
    try:
        async with _session(timer, tls) as session:
            got, body = await _fetch(session, "GET", service.url, None, tls, timer)
            _expect_page(service, got, body)
            timer.phase("login")
            form = {
                login.username_field: credentials.username,
                login.password_field: credentials.password,
            }
            status, body = await _post_login(session, login.url, form, tls, timer)
            _expect(status, body, login.expect_status, login.expect_body, ErrorKind.AUTH)
            return f"GET {got}, login {status}"
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
        raise ProbeFailure(ErrorKind.PROTOCOL, _bad_response(exc.message)) from None
    except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
        raise ProbeFailure(ErrorKind.PROTOCOL, f"{type(exc).__name__}: {exc}") from None


def _session(timer: PhaseTimer, tls: ssl.SSLContext) -> aiohttp.ClientSession:
    """A login's own session: its cookies, and a connection of its own for each request."""
    return aiohttp.ClientSession(
        connector=_RecordingConnector(timer, ssl=tls, force_close=True, use_dns_cache=False),
        trace_configs=[PHASES],
        timeout=aiohttp.ClientTimeout(total=None),  # the runner bounds the transaction
        headers={"User-Agent": USER_AGENT},
        # The head's budget (a server that never ends it costs a capped amount).
        max_line_size=MAX_HEAD_LINE,
        max_field_size=MAX_HEAD_LINE,
        max_headers=MAX_HEADER_LINES,
    )


def _bad_response(message: str) -> str:
    """aiohttp's words for a response it could not read; those of its limits name them."""
    if message.startswith("Too many headers"):
        return TOO_MANY_HEADER_LINES
    if message.startswith("Got more than"):  # its LineTooLong, which quotes the line
        return f"a line of the response head is longer than {MAX_HEAD_LINE} bytes"
    return f"bad HTTP response: {message}"


async def _fetch(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    form: dict[str, str] | None,
    tls: ssl.SSLContext,
    timer: PhaseTimer,
) -> tuple[int, bytes]:
    async with session.request(
        method, url, data=form, ssl=tls, trace_request_ctx=timer
    ) as response:
        return response.status, await response.content.read(MAX_BODY)


REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 10  # aiohttp's own limit


def _origin(url: URL) -> tuple[str | None, str | None, int | None]:
    return url.scheme, url.host, url.port


async def _post_login(
    session: aiohttp.ClientSession,
    url: str,
    form: dict[str, str],
    tls: ssl.SSLContext,
    timer: PhaseTimer,
) -> tuple[int, bytes]:
    """The login POST, following redirects only within its own origin (scheme, host and
    port): a 307 or 308 repeats the POST, credentials and all, to wherever it points. A
    redirect elsewhere is not followed; its status is what the probe judges."""
    method, target = "POST", URL(url)
    data: dict[str, str] | None = form
    for _ in range(MAX_REDIRECTS):
        async with session.request(
            method, target, data=data, ssl=tls, trace_request_ctx=timer, allow_redirects=False
        ) as response:
            status, body = response.status, await response.content.read(MAX_BODY)
            location = response.headers.get("Location")
        if status not in REDIRECTS or not location:
            return status, body
        try:
            following = target.join(URL(location))
        except ValueError:
            return status, body
        if _origin(following) != _origin(target):
            return status, body
        if status in (301, 302, 303):  # browsers turn these into a GET without the form
            method, data = "GET", None
        target = following
    raise ProbeFailure(ErrorKind.PROTOCOL, f"the login redirects more than {MAX_REDIRECTS} times")


def _expect_page(service: HttpService, status: int, body: bytes) -> None:
    """The login page as configured: a failure of the page itself, not of the protocol."""
    _expect(status, body, service.expect_status, service.expect_body, ErrorKind.UNEXPECTED)


def _expect(
    status: int, body: bytes, want_status: int, want_text: str | None, kind: ErrorKind
) -> None:
    if status != want_status:
        raise ProbeFailure(kind, f"status {status}, expected {want_status}: {decode(body, 80)!r}")
    if want_text is not None and want_text.encode() not in body:
        raise ProbeFailure(kind, f"status {status} but the page lacks {want_text!r}")
