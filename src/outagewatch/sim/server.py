"""`SimServer`: the loopback listener every simulator shares.

It accepts connections itself (``sock_accept`` + ``connect_accepted_socket``) rather than
through ``loop.create_server`` for three reasons: a refusing server must really close its
listening socket (clients get ECONNREFUSED, not a reset) and listen again on the same port;
``accepted_at`` must be taken before an implicit-TLS handshake; and connections still in
that handshake must be closed by stop(), which ``asyncio.Server`` (3.11) cannot do.
"""

from __future__ import annotations

import abc
import asyncio
import ipaddress
import logging
import secrets
import socket
import ssl
from collections import deque
from collections.abc import Mapping
from types import TracebackType
from typing import ClassVar, Self

from outagewatch.sim.faults import Faults
from outagewatch.sim.hostile import HostileProtocol, Shapes
from outagewatch.sim.tracking import ConnectionRecord, ConnectionTracker
from outagewatch.tls.contexts import TlsMode

log = logging.getLogger(__name__)

TLS_HANDSHAKE_TIMEOUT = 10.0
# After an accept() error such as EMFILE the listening socket stays readable: pause briefly
# instead of spinning on the same error.
ACCEPT_ERROR_PAUSE = 0.1


class SimServer(abc.ABC):
    """A simulated protocol server on a loopback address, with fault injection.

    ``users`` maps username to password. With no users, the server offers no login at all:
    every login is refused and, where the protocol advertises it, authentication is not
    announced. ``connections`` holds one `ConnectionRecord` per accepted connection.
    Use it as ``async with Server(...) as server:`` or call `start` and `stop`.
    """

    protocol: ClassVar[str]
    # What the hostile modes say in this protocol.
    hostile_shapes: ClassVar[Shapes]

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsMode = "none",
        ssl_context: ssl.SSLContext | None = None,
        users: Mapping[str, str] | None = None,
        faults: Faults | None = None,
    ) -> None:
        if not _is_loopback_address(host):
            raise ValueError(f"simulators listen on loopback only (127.0.0.1 or ::1), not {host}")
        if tls != "none" and ssl_context is None:
            raise ValueError(f"tls={tls!r} needs a server-side ssl_context")
        self.host = host
        self.port = port
        self.tls: TlsMode = tls
        self.ssl_context = ssl_context
        self.users: dict[str, str] = dict(users or {})
        self.faults = faults if faults is not None else Faults()
        self.tracker = ConnectionTracker()
        self.connections: deque[ConnectionRecord] = self.tracker.records
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    @property
    def refusing(self) -> bool:
        return self._running and self._listener is None

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def accepts(self, username: str, password: str) -> bool:
        """Whether a login succeeds now, given the users and the ``reject_login`` fault."""
        expected = self.users.get(username)
        if expected is None or self.faults.reject_login:
            return False
        return secrets.compare_digest(expected.encode(), password.encode())

    async def start(self) -> None:
        if self._running:
            raise RuntimeError(f"the {self.protocol} simulator is already running")
        self._running = True
        try:
            self._listen()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Close the listener and every connection; returns when no task or socket is left."""
        if not self._running:
            return
        self._running = False
        await self._close_listener()
        await self.tracker.close_all()

    async def set_refusing(self, refusing: bool) -> None:
        """Close the listening socket (clients get ECONNREFUSED) or listen again, same port.

        Open connections are not affected.
        """
        if not self._running:
            raise RuntimeError(f"start() the {self.protocol} simulator first")
        if refusing:
            await self._close_listener()
        elif self._listener is None:
            self._listen()

    async def wait_accepted(self, count: int) -> None:
        """Return once ``count`` connections have been accepted since the start."""
        await self.tracker.wait_accepted(count)

    async def wait_until_idle(self) -> None:
        """Return once no connection is open (every record has its ``closed_at``)."""
        await self.tracker.wait_idle()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @abc.abstractmethod
    def _protocol_for(self, record: ConnectionRecord) -> asyncio.BaseProtocol:
        """The protocol object that speaks this server's protocol on one new connection.

        It must call ``self.tracker.attach(record, transport)`` from ``connection_made`` and
        ``self.tracker.closed(record)`` from ``connection_lost``.
        """

    def _forget(self, protocol: asyncio.BaseProtocol) -> None:  # noqa: B027 (optional hook)
        """A connection failed before its protocol ever saw it (e.g. in the TLS handshake)."""

    def _listen(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            # Without SO_REUSEADDR, listening again on our own port fails while connections
            # accepted from it linger in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
            sock.listen(128)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.port = sock.getsockname()[1]
        self._listener = sock
        self._accepting = asyncio.get_running_loop().create_task(
            self._accept_loop(sock), name=f"{self.protocol} accept {self.address}"
        )

    async def _close_listener(self) -> None:
        accepting, self._accepting = self._accepting, None
        if accepting is not None:
            accepting.cancel()
            await asyncio.gather(accepting, return_exceptions=True)
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(listener)
            except OSError as exc:
                log.warning("%s simulator: accept failed: %s", self.protocol, exc)
                await asyncio.sleep(ACCEPT_ERROR_PAUSE)
                continue
            record = self.tracker.opened(conn)
            self.tracker.spawn(self._connect(conn, record), f"{self.protocol} connect")

    async def _connect(self, conn: socket.socket, record: ConnectionRecord) -> None:
        # Real mail servers answer a multi-line reply in one write; aiosmtpd writes each line
        # on its own, and Nagle's algorithm would then hold the rest back for 40 ms.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        protocol = self._new_protocol(record)
        implicit = self.ssl_context if self.tls == "implicit" else None
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: protocol,
                conn,
                ssl=implicit,
                ssl_handshake_timeout=TLS_HANDSHAKE_TIMEOUT if implicit else None,
            )
        except BaseException as exc:
            # The protocol never saw the connection, so it will not report the close.
            conn.close()
            self._forget(protocol)
            self.tracker.closed(record)
            if not isinstance(exc, Exception):
                raise
            log.debug("%s simulator: connection failed before greeting: %s", self.protocol, exc)

    def _new_protocol(self, record: ConnectionRecord) -> asyncio.BaseProtocol:
        faults = self.faults
        if faults.hang or faults.hostile is not None:
            mode = None if faults.hang else faults.hostile
            return HostileProtocol(
                self.tracker, record, mode, self.hostile_shapes, faults.drip_interval
            )
        return self._protocol_for(record)


def _is_loopback_address(host: str) -> bool:
    # An address, not a name: "localhost" may resolve to something else on odd hosts.
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
