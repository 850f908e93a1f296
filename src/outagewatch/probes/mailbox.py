"""The round trip's IMAP side: find its probe mail by token (IDLE when the server offers it,
polling with backoff otherwise, Junk looked in too), read its INTERNALDATE, delete it by UID.

Only messages carrying the probe header are ever flagged or expunged: its own by UID, and
probe mails left behind by probes that gave up (a delivery that arrived after the timeout)
once they are an hour old. Without UIDPLUS a plain EXPUNGE would also remove what someone
else flagged \\Deleted, so it is sent only when nothing else is flagged.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from outagewatch.probes.imap import Session
from outagewatch.probes.imap_client import ImapConnection, expect_ok, quoted
from outagewatch.probes.result import ErrorKind, ProbeFailure
from outagewatch.text import one_line

PROBE_HEADER = "X-Outagewatch-Probe"
# RFC 2177: a server may drop an IDLE after 30 minutes of it; re-issued well before 29.
IDLE_RENEW = 28 * 60.0
FIRST_WAIT, MAX_WAIT = 0.25, 4.0  # backoff between looks when nothing is pushed
STALE_AFTER = 3600  # seconds: a probe mail this old belongs to no probe still waiting
INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"', re.IGNORECASE)


@dataclass(frozen=True)
class Found:
    folder: str
    uid: str
    junk: bool


class Mailbox:
    def __init__(self, imap: ImapConnection, session: Session, folder: str, junk: str | None):
        self.imap = imap
        self.caps = session.capabilities
        self.folder = folder
        self.junk = junk
        self.selected: str | None = None
        self.uses_idle = "IDLE" in self.caps

    async def open(self) -> None:
        await self._select(self.folder)

    async def wait_for(self, token: str) -> Found:
        """Until the mail is seen (the runner's timeout bounds the wait). IDLE watches the
        folder; Junk is looked into after a wait that brought no news (with polling, after
        every wait): a mail filed as spam makes no noise in the folder being watched."""
        wait, news = FIRST_WAIT, True
        while True:
            await self._select(self.folder)
            uids = await self._search(*_criteria(token))
            if uids:
                return Found(self.folder, uids[0], junk=False)
            if not news and self.junk is not None:
                found = await self._look_in_junk(token)
                if found is not None:
                    return found
                await self._select(self.folder)
            if self.uses_idle:
                news = await self._idle(min(wait, IDLE_RENEW))
            else:
                await asyncio.sleep(wait)
                expect_ok(await self.imap.command("NOOP"), "NOOP")
                news = False
            wait = min(wait * 2, MAX_WAIT)

    async def internaldate(self, found: Found) -> str:
        await self._select(found.folder)
        response = await self.imap.command("UID", "FETCH", found.uid, "(INTERNALDATE)")
        expect_ok(response, "UID FETCH")
        for line in response.untagged:
            match = INTERNALDATE.search(line)
            if match:
                return match.group(1).decode("ascii", "replace")
        raise ProbeFailure(ErrorKind.PROTOCOL, "UID FETCH gave no INTERNALDATE")

    async def delete(self, found: Found) -> int:
        """Its own message and stale probe mails, by UID; returns how many."""
        await self._select(found.folder)
        uids = {found.uid, *await self._stale()}
        listed = ",".join(sorted(uids, key=int))
        flag = await self.imap.command("UID", "STORE", listed, "+FLAGS.SILENT", "(\\Deleted)")
        expect_ok(flag, "UID STORE")
        if "UIDPLUS" in self.caps:
            expect_ok(await self.imap.command("UID", "EXPUNGE", listed), "UID EXPUNGE")
        elif set(await self._search("DELETED")) <= uids:
            expect_ok(await self.imap.command("EXPUNGE"), "EXPUNGE")
        return len(uids)

    async def _look_in_junk(self, token: str) -> Found | None:
        assert self.junk is not None
        if self.junk == self.folder:
            return None
        if not await self._select(self.junk, readonly=True, missing_ok=True):
            self.junk = None  # there is no such folder: never look again
            return None
        uids = await self._search(*_criteria(token))
        return Found(self.junk, uids[0], junk=True) if uids else None

    async def _stale(self) -> list[str]:
        if "WITHIN" not in self.caps:  # RFC 5032 OLDER; without it, leftovers stay
            return []
        return await self._search("HEADER", PROBE_HEADER, '""', "OLDER", str(STALE_AFTER))

    async def _search(self, *criteria: str) -> list[str]:
        response = await self.imap.command("UID", "SEARCH", *criteria)
        expect_ok(response, "UID SEARCH")
        return [word for word in response.words(b"SEARCH") if word.isdigit()]

    async def _select(
        self, folder: str, *, readonly: bool = False, missing_ok: bool = False
    ) -> bool:
        want = f"{folder}/{'ro' if readonly else 'rw'}"
        if self.selected == want:
            return True
        verb = "EXAMINE" if readonly else "SELECT"
        response = await self.imap.command(verb, quoted(folder))
        if response.result == "NO" and missing_ok:
            self.selected = None
            return False
        expect_ok(response, f"{verb} {one_line(folder, 40)}")
        self.selected = want
        return True

    async def _idle(self, wait: float) -> bool:
        """IDLE for up to ``wait``; True when the server pushed something. A server that
        refuses IDLE though it announced it is polled from then on."""
        news = await self.imap.idle(wait)
        if news is None:
            self.uses_idle = False
            return False
        return news


def _criteria(token: str) -> tuple[str, ...]:
    return ("OR", "HEADER", PROBE_HEADER, token, "HEADER", "Message-ID", token)
