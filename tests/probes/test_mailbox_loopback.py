"""The round trip's mailbox side against servers started in the test: what Dovecot does not
do on loopback (refusing an IDLE it announced)."""

from __future__ import annotations

import asyncio

from outagewatch.probes.imap import Session
from outagewatch.probes.imap_client import ImapConnection
from outagewatch.probes.mailbox import Found, Mailbox
from outagewatch.probes.net import connect
from outagewatch.probes.result import PhaseTimer
from tests.probes.test_imap_loopback import serve


async def test_a_refused_idle_falls_back_to_polling() -> None:
    searches = 0
    received: list[str] = []

    async def server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal searches
        writer.write(b"* OK ready\r\n")
        while line := await reader.readline():
            tag, _, command = line.decode().rstrip("\r\n").partition(" ")
            received.append(command.split(" ")[0] if command[:4] != "UID " else command[:10])
            if command.startswith("UID SEARCH"):
                searches += 1
                found = b" 7" if searches > 1 else b""
                writer.write(b"* SEARCH" + found + b"\r\n")
            answer = "NO not now" if command == "IDLE" else "OK done"
            writer.write(f"{tag} {answer}\r\n".encode())

    async with serve(server) as port:
        imap = await ImapConnection.open(
            await connect("127.0.0.1", port, PhaseTimer()), "127.0.0.1", None
        )
        try:
            await imap.greeting()
            caps = frozenset({"IMAP4REV1", "IDLE"})
            mailbox = Mailbox(imap, Session("ready", "IMAP4rev1", caps, None), "INBOX", None)
            found = await asyncio.wait_for(mailbox.wait_for("token"), 10)
        finally:
            imap.abort()

    assert found == Found("INBOX", "7", junk=False)
    assert not mailbox.uses_idle
    assert received == ["SELECT", "UID SEARCH", "IDLE", "UID SEARCH"]
