"""POP3 simulator: the part of POP3 (RFC 1939, 2449, 2595) that a monitoring probe walks through.

CAPA, STLS, USER/PASS, STAT (always an empty maildrop), NOOP and QUIT; anything else
gets ``-ERR``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from outagewatch.sim.hostile import Shapes
from outagewatch.sim.lines import LineServer, LineSession


class Pop3Server(LineServer):
    """A minimal POP3 server; see `SimServer` for the constructor.

    Works with ``poplib`` (POP3, POP3_SSL, ``stls()``). With no users, USER is neither
    advertised in CAPA nor accepted.
    """

    protocol = "pop3"
    hostile_shapes = Shapes(
        greeting=b"+OK outagewatch POP3 simulator ready\r\n",
        endless_line=b"+OK ",
        lines_head=b"+OK ready\r\n",
        line=b"filler\r\n",
    )
    refusal = "-ERR server unavailable"
    line_too_long = "-ERR line too long"

    def greeting(self, session: LineSession) -> str:
        return "+OK outagewatch POP3 simulator ready"

    async def converse(self, session: LineSession) -> None:
        await _Conversation(self, session).run()


_Handler = Callable[[str], Awaitable[bool]]


class _Conversation:
    """One client's POP3 session; every handler returns whether the session goes on."""

    def __init__(self, server: Pop3Server, session: LineSession) -> None:
        self.server = server
        self.session = session
        self.user: str | None = None
        self.authenticated = False
        self.commands: dict[str, _Handler] = {
            "CAPA": self._capa,
            "STLS": self._stls,
            "USER": self._user,
            "PASS": self._pass,
            "STAT": self._stat,
            "NOOP": self._noop,
            "QUIT": self._quit,
        }

    async def run(self) -> None:
        while (line := await self.session.readline()) is not None:
            name, _, argument = line.partition(" ")
            handler = self.commands.get(name.upper())
            if handler is None:
                await self.session.reply("-ERR unknown command")
            elif not await handler(argument):
                return

    async def _capa(self, argument: str) -> bool:
        lines = ["+OK capability list follows"]
        if self.server.users:
            lines.append("USER")
        if self._stls_available():
            lines.append("STLS")
        lines += ["IMPLEMENTATION outagewatch-simulator", "."]
        await self.session.reply(*lines)
        return True

    def _stls_available(self) -> bool:
        # RFC 2595: STLS only in the AUTHORIZATION state, and only once.
        return self.server.tls == "starttls" and not self.session.tls_active and not self.user

    async def _stls(self, argument: str) -> bool:
        if not self._stls_available():
            await self.session.reply("-ERR STLS not available")
            return True
        await self.session.reply("+OK begin TLS negotiation")
        await self.session.start_tls()
        return True

    async def _user(self, argument: str) -> bool:
        if self.authenticated:
            await self.session.reply("-ERR already authenticated")
        elif not self.server.users:
            await self.session.reply("-ERR USER not supported")
        elif not argument:
            await self.session.reply("-ERR USER expects a name")
        else:
            self.user = argument
            await self.session.reply("+OK send PASS")
        return True

    async def _pass(self, argument: str) -> bool:
        if self.authenticated or self.user is None:
            await self.session.reply("-ERR send USER first")
        elif self.server.accepts(self.user, argument):
            self.authenticated = True
            await self.session.reply("+OK maildrop locked and ready")
        else:
            self.user = None
            await self.session.reply("-ERR [AUTH] invalid user name or password")
        return True

    async def _stat(self, argument: str) -> bool:
        await self.session.reply("+OK 0 0" if self.authenticated else "-ERR not authenticated")
        return True

    async def _noop(self, argument: str) -> bool:
        await self.session.reply("+OK")
        return True

    async def _quit(self, argument: str) -> bool:
        await self.session.reply("+OK bye")
        return False
