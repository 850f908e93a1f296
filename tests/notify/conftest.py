"""An in-process SMTP relay (aiosmtpd on 127.0.0.1, on the test's own loop) and a database."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy.ext.asyncio import AsyncEngine

from outagewatch.config.model import Relay
from outagewatch.metrics import Metrics

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
USERNAME = "noc"
PASSWORD = "Tr0ub4dor&3-relay"
SENDER = "OX Cloud Operations <noc@example.net>"
S250_OK = "250 2.0.0 OK"
S550_NO_SUCH_USER = "550 5.1.1 no such user"
S451_TRY_LATER = "451 4.3.0 try again later"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    authenticated: bool
    tls: bool

    @property
    def message(self) -> EmailMessage:
        # As a mail client stores it: line ends are CRLF on the wire only.
        parsed = message_from_bytes(self.data.replace(b"\r\n", b"\n"), policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class RelayHandler:
    """Accepts mail into ``received``; replies can be set per recipient, for MAIL and DATA."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    mail_reply: str | None = None
    data_reply: str | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return S250_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return S250_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes) and envelope.mail_from is not None
        self.received.append(
            Received(
                envelope.mail_from,
                tuple(envelope.rcpt_tos),
                content,
                bool(session.authenticated),
                session.ssl is not None,
            )
        )
        self.arrived.set()
        return "250 2.0.0 queued"


def authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USERNAME.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd sends the reply


class LoopbackRelay:
    """aiosmtpd on 127.0.0.1 in the test's loop; stop() and start() again on the same port."""

    def __init__(self, tls: str, server_tls: ssl.SSLContext) -> None:
        self.tls = tls
        self.server_tls = server_tls
        self.handler = RelayHandler()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._sessions: list[SMTP] = []

    def _protocol(self) -> SMTP:
        session = SMTP(
            self.handler,
            hostname="relay.test",
            tls_context=self.server_tls if self.tls == "starttls" else None,
            require_starttls=self.tls == "starttls",
            authenticator=authenticator,
            # aiosmtpd only counts STARTTLS as TLS; under implicit TLS the wire is TLS anyway.
            auth_require_tls=self.tls == "starttls",
            loop=asyncio.get_running_loop(),
        )
        self._sessions.append(session)
        return session

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        ssl_context = self.server_tls if self.tls == "implicit" else None
        self._server = await loop.create_server(
            self._protocol, "127.0.0.1", self.port, ssl=ssl_context
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        # asyncio.Server (3.11) leaves accepted connections open: close them ourselves.
        for session in self._sessions:
            if session.transport is not None:
                session.transport.close()
        await self._server.wait_closed()
        self._server = None

    def relay(self, **changes: Any) -> Relay:
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "tls": self.tls,
            "username": USERNAME,
            "password_env": "OUTAGEWATCH_TEST_RELAY_PASSWORD",  # named only: never read
            "from": SENDER,
        }
        return Relay.model_validate({**settings, **changes})


StartRelay = Callable[..., Awaitable[LoopbackRelay]]


@pytest.fixture
async def start_relay(
    server_tls: ssl.SSLContext,
) -> AsyncIterator[StartRelay]:
    started: list[LoopbackRelay] = []

    async def start(tls: str = "starttls") -> LoopbackRelay:
        relay = LoopbackRelay(tls, server_tls)
        await relay.start()
        started.append(relay)
        return relay

    yield start
    for relay in started:
        await relay.stop()


@pytest.fixture
def db(migrated_sqlite: AsyncEngine) -> AsyncEngine:
    return migrated_sqlite


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


def counted(metrics: Metrics, kind: str, result: str, channel: str = "mail") -> float:
    value = metrics.registry.get_sample_value(
        "outagewatch_notifications_total", {"channel": channel, "kind": kind, "result": result}
    )
    return value or 0.0
