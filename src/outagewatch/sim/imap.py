"""IMAP simulator: the part of IMAP4rev1 (RFC 3501) that a monitoring probe walks through.

CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE PLAIN (with a continuation or an initial
response, RFC 4959), SELECT INBOX (always empty), NOOP and LOGOUT; anything else is BAD.
Arguments may be atoms, quoted strings or literals (``{n}`` and LITERAL+ ``{n+}``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable

from outagewatch.sim.hostile import Shapes
from outagewatch.sim.lines import MAX_LINE, LineServer, LineSession, LineTooLong

_LITERAL = re.compile(r"\{(?P<size>\d{1,9})(?P<nonsync>\+?)\}$")
_TOKEN = re.compile(r'"(?P<quoted>(?:[^"\\]|\\.)*)"|(?P<atom>[^\s"]+)|(?P<stray>")')
_ESCAPED = re.compile(r"\\(.)")

SELECT_INBOX = (
    r"* FLAGS (\Answered \Flagged \Deleted \Seen \Draft)",
    "* 0 EXISTS",
    "* 0 RECENT",
    "* OK [UIDVALIDITY 1] UIDs valid",
    "* OK [UIDNEXT 1] Predicted next UID",
)


class ImapSyntaxError(ValueError):
    pass


class ImapServer(LineServer):
    """A minimal IMAP4rev1 server; see `SimServer` for the constructor.

    Works with aioimaplib (``IMAP4``/``IMAP4_SSL``: wait_hello_from_server, login, select,
    logout). With ``tls="starttls"``, STARTTLS is advertised until TLS is active; LOGIN is
    allowed before it (no LOGINDISABLED), because a probe's own policy decides that.
    """

    protocol = "imap"
    hostile_shapes = Shapes(
        greeting=b"* OK [CAPABILITY IMAP4rev1] outagewatch IMAP simulator ready\r\n",
        endless_line=b"* OK ",
        lines_head=b"* OK [CAPABILITY IMAP4rev1] ready\r\n",
        line=b"* OK filler\r\n",
    )
    refusal = "* BYE server unavailable"
    line_too_long = "* BYE line too long"

    def capabilities(self, session: LineSession) -> str:
        caps = ["IMAP4rev1", "LITERAL+", "SASL-IR"]
        if self.tls == "starttls" and not session.tls_active:
            caps.append("STARTTLS")
        # Without users nobody can log in, so say so rather than offer a mechanism.
        caps.append("AUTH=PLAIN" if self.users else "LOGINDISABLED")
        return " ".join(caps)

    def greeting(self, session: LineSession) -> str:
        return f"* OK [CAPABILITY {self.capabilities(session)}] outagewatch IMAP simulator ready"

    async def converse(self, session: LineSession) -> None:
        await _Conversation(self, session).run()


_Handler = Callable[[str, list[str]], Awaitable[bool]]


class _Conversation:
    """One client's IMAP session; every handler returns whether the session goes on."""

    def __init__(self, server: ImapServer, session: LineSession) -> None:
        self.server = server
        self.session = session
        self.user: str | None = None
        self.commands: dict[str, _Handler] = {
            "CAPABILITY": self._capability,
            "NOOP": self._noop,
            "LOGOUT": self._logout,
            "STARTTLS": self._starttls,
            "LOGIN": self._login,
            "AUTHENTICATE": self._authenticate,
            "SELECT": self._select,
        }

    async def run(self) -> None:
        while True:
            try:
                tokens = await self._read_command()
            except ImapSyntaxError as exc:
                await self.session.reply(f"* BAD {exc}")
                continue
            if tokens is None:
                return
            if len(tokens) < 2:
                await self.session.reply(f"{tokens[0] if tokens else '*'} BAD missing command")
                continue
            tag, name, args = tokens[0], tokens[1].upper(), tokens[2:]
            handler = self.commands.get(name)
            if handler is None:
                await self.session.reply(f"{tag} BAD unknown command {name}")
            elif not await handler(tag, args):
                return

    async def _read_command(self) -> list[str] | None:
        """One command's tokens, reading the literals it announces; None if the client left."""
        tokens: list[str] = []
        line = await self.session.readline()
        while line is not None and (literal := _LITERAL.search(line)) is not None:
            tokens += _tokenize(line[: literal.start()])
            size = int(literal["size"])
            if size > MAX_LINE:
                raise LineTooLong
            if not literal["nonsync"]:
                await self.session.reply("+ Ready for literal data")
            data = await self.session.read_exactly(size)
            if data is None:
                return None
            tokens.append(data.decode("utf-8", "replace"))
            line = await self.session.readline()
        if line is None:
            return None
        return tokens + _tokenize(line)

    async def _capability(self, tag: str, args: list[str]) -> bool:
        caps = self.server.capabilities(self.session)
        await self.session.reply(f"* CAPABILITY {caps}", f"{tag} OK CAPABILITY completed")
        return True

    async def _noop(self, tag: str, args: list[str]) -> bool:
        await self.session.reply(f"{tag} OK NOOP completed")
        return True

    async def _logout(self, tag: str, args: list[str]) -> bool:
        await self.session.reply("* BYE logging out", f"{tag} OK LOGOUT completed")
        return False

    async def _starttls(self, tag: str, args: list[str]) -> bool:
        if self.server.tls != "starttls" or self.session.tls_active:
            await self.session.reply(f"{tag} BAD STARTTLS not available")
            return True
        await self.session.reply(f"{tag} OK Begin TLS negotiation now")
        await self.session.start_tls()
        return True

    async def _login(self, tag: str, args: list[str]) -> bool:
        if len(args) != 2:
            await self.session.reply(f"{tag} BAD LOGIN expects a user name and a password")
            return True
        return await self._check(tag, "LOGIN", args[0], args[1])

    async def _authenticate(self, tag: str, args: list[str]) -> bool:
        if not args or len(args) > 2:
            await self.session.reply(f"{tag} BAD AUTHENTICATE expects a mechanism")
            return True
        if args[0].upper() != "PLAIN":
            await self.session.reply(f"{tag} NO unsupported authentication mechanism")
            return True
        if len(args) == 2:
            response: str | None = args[1]
        else:
            await self.session.reply("+ ")
            response = await self.session.readline()
        if response is None:
            return False
        if response.strip() == "*":
            await self.session.reply(f"{tag} BAD AUTHENTICATE cancelled")
            return True
        credentials = _sasl_plain(response.strip())
        if credentials is None:
            await self.session.reply(f"{tag} BAD not a SASL PLAIN response")
            return True
        return await self._check(tag, "AUTHENTICATE", *credentials)

    async def _check(self, tag: str, command: str, username: str, password: str) -> bool:
        if self.user is not None:
            await self.session.reply(f"{tag} BAD already authenticated")
        elif self.server.accepts(username, password):
            self.user = username
            await self.session.reply(f"{tag} OK {command} completed")
        else:
            await self.session.reply(f"{tag} NO [AUTHENTICATIONFAILED] Authentication failed")
        return True

    async def _select(self, tag: str, args: list[str]) -> bool:
        if self.user is None:
            await self.session.reply(f"{tag} BAD SELECT is only valid after login")
        elif len(args) != 1:
            await self.session.reply(f"{tag} BAD SELECT expects one mailbox name")
        elif args[0].upper() != "INBOX":
            await self.session.reply(f"{tag} NO [NONEXISTENT] only INBOX exists here")
        else:
            await self.session.reply(*SELECT_INBOX, f"{tag} OK [READ-WRITE] SELECT completed")
        return True


def _tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for match in _TOKEN.finditer(text):
        if match["stray"] is not None:
            raise ImapSyntaxError("unterminated quoted string")
        quoted = match["quoted"]
        tokens.append(match["atom"] if quoted is None else _ESCAPED.sub(r"\1", quoted))
    return tokens


def _sasl_plain(response: str) -> tuple[str, str] | None:
    """(user, password) from a SASL PLAIN response (RFC 4616), ignoring the authzid."""
    # RFC 4959: "=" stands for an empty initial response.
    raw = b"" if response == "=" else response
    try:
        parts = base64.b64decode(raw, validate=True).split(b"\0")
    except (binascii.Error, ValueError):
        return None
    if len(parts) != 3:
        return None
    return parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
