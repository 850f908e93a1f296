"""SMTP simulator and in-memory mail sink, built on aiosmtpd's SMTP protocol.

The protocol runs on our own listener (see `SimServer`) in the caller's event loop: no
thread, so tests can change faults between two replies. Faults hook into ``push()``,
which aiosmtpd uses for every reply, the greeting included.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from outagewatch.sim.faults import Faults
from outagewatch.sim.hostile import Shapes
from outagewatch.sim.server import SimServer
from outagewatch.sim.tracking import ConnectionRecord
from outagewatch.tls.contexts import TlsMode

BAD_BANNER = "554 5.3.2 service unavailable"
BAD_SEQUENCE = "503 5.5.1 bad sequence of commands"


class _DropLoginDataWarning(logging.Filter):
    # aiosmtpd logs a deprecation warning of its own API on every successful AUTH.
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Session.login_data is deprecated")


logging.getLogger("mail.log").addFilter(_DropLoginDataWarning())


@dataclass(frozen=True)
class ReceivedMessage:
    """One message accepted by the sink: the envelope and the raw bytes of the DATA."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    login: str | None  # the authenticated user, if the client logged in


class SmtpServer(SimServer):
    """An SMTP server that accepts any mail into `messages`; see `SimServer` for the rest.

    EHLO, STARTTLS (``tls="starttls"``), implicit TLS, AUTH PLAIN/LOGIN against ``users``,
    NOOP, QUIT, MAIL/RCPT/DATA. AUTH is advertised only when there are users; it is allowed
    without TLS with ``tls="none"`` (tests need it), only after STARTTLS with
    ``tls="starttls"``. Mail is accepted with or without AUTH, as a sink should.
    Under ``bad_banner`` the greeting is 554 and every command but QUIT gets 503 (RFC 5321 3.1).
    """

    protocol = "smtp"
    hostile_shapes = Shapes(
        greeting=b"220 localhost ESMTP outagewatch SMTP simulator\r\n",
        endless_line=b"220 ",
        lines_head=b"",
        line=b"220-filler\r\n",
    )

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsMode = "none",
        ssl_context: ssl.SSLContext | None = None,
        users: Mapping[str, str] | None = None,
        faults: Faults | None = None,
        hostname: str = "localhost",
    ) -> None:
        super().__init__(
            host=host, port=port, tls=tls, ssl_context=ssl_context, users=users, faults=faults
        )
        # Passed to aiosmtpd because its default, socket.getfqdn(), may wait on DNS.
        self.hostname = hostname
        self.messages: list[ReceivedMessage] = []
        self._arrived = asyncio.Condition()

    async def wait_for_messages(self, count: int) -> list[ReceivedMessage]:
        """Wait until at least ``count`` messages arrived (wrap it in a timeout)."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.messages) >= count)
            return list(self.messages)

    def _protocol_for(self, record: ConnectionRecord) -> asyncio.BaseProtocol:
        return _SimSMTP(self, record)

    async def _store(self, message: ReceivedMessage) -> None:
        async with self._arrived:
            self.messages.append(message)
            self._arrived.notify_all()


class _Handler:
    """aiosmtpd's hooks (found by their ``handle_`` names) and its authenticator."""

    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    def authenticate(
        self, smtp: SMTP, session: Session, envelope: Envelope, mechanism: str, auth: object
    ) -> AuthResult:
        ok = isinstance(auth, LoginPassword) and self._server.accepts(
            auth.login.decode("utf-8", "replace"), auth.password.decode("utf-8", "replace")
        )
        return AuthResult(success=ok, handled=False, auth_data=auth if ok else None)

    async def handle_EHLO(
        self, smtp: SMTP, session: Session, envelope: Envelope, hostname: str, lines: list[str]
    ) -> list[str]:
        # With this hook aiosmtpd leaves recording the client's name to us.
        session.host_name = hostname
        if self._server.users:
            return lines
        return [line for line in lines if not line.startswith("250-AUTH")]

    async def handle_DATA(self, smtp: SMTP, session: Session, envelope: Envelope) -> str:
        auth = session.auth_data
        login = auth.login.decode("utf-8", "replace") if isinstance(auth, LoginPassword) else None
        await self._server._store(
            ReceivedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=envelope.original_content or b"",
                login=login,
            )
        )
        return "250 2.0.0 OK: queued"


class _SimSMTP(SMTP):
    """aiosmtpd's protocol for one connection, with faults and the connection record."""

    def __init__(self, server: SmtpServer, record: ConnectionRecord) -> None:
        handler = _Handler(server)
        super().__init__(
            handler,
            hostname=server.hostname,
            ident="ESMTP outagewatch SMTP simulator",
            tls_context=server.ssl_context if server.tls == "starttls" else None,
            # With implicit TLS the channel is already encrypted, but aiosmtpd only knows
            # about STARTTLS; with "none" tests need AUTH in clear text on loopback.
            auth_require_tls=server.tls == "starttls",
            authenticator=handler.authenticate,
            loop=asyncio.get_running_loop(),
        )
        self._sim = server
        self._record = record
        self._greeted = False
        self._in_multiline_reply = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called again with the TLS transport after STARTTLS: same connection, same record.
        first = self.transport is None
        if first:
            self._sim.tracker.attach(self._record, transport)
        super().connection_made(transport)
        if first and self._handler_coroutine is not None:
            self._sim.tracker.adopt(self._handler_coroutine)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self._sim.tracker.closed(self._record)

    async def push(self, status: str | bytes) -> None:
        text = status if isinstance(status, str) else status.decode("ascii", "replace")
        faults = self._sim.faults
        if not self._greeted:
            self._greeted = True
            await _pause(faults.greeting_delay)
            if faults.bad_banner:
                text = BAD_BANNER
                # aiosmtpd dispatches through this table: only QUIT stays valid.
                self._smtp_methods = {
                    name: self.smtp_QUIT if name == "QUIT" else self._bad_sequence
                    for name in self._smtp_methods
                }
        elif not self._in_multiline_reply:
            await _pause(faults.reply_delay)
        # "250-..." announces more lines of the same reply: delay a reply once, not per line.
        self._in_multiline_reply = text[3:4] == "-"
        await super().push(text)

    async def _bad_sequence(self, arg: str | None) -> None:
        await self.push(BAD_SEQUENCE)


async def _pause(seconds: float) -> None:
    if seconds > 0:
        await asyncio.sleep(seconds)
