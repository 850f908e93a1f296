"""The round trip end to end against a real Dovecot: the probe submits through the sim SMTP
server, a relay in the test hands the mail to Dovecot's own LMTP (dovecot-lmtpd), and the
probe finds it over IMAP with IDLE. A relay that holds the mail makes the probe slow, then
an outage under the compressed rule; a relay that files it as spam puts it into Junk."""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import os
import smtplib
import ssl
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import trustme
import yaml

from outagewatch.config import RoundtripService
from outagewatch.detection.rule import Observation, Opened, RuleState, RunRules, fold
from outagewatch.probes import PROBES, Credentials, ErrorKind, ProbeResult, run_probe
from outagewatch.probes.mailbox import PROBE_HEADER
from outagewatch.sim import SmtpServer
from tests.certs import cases
from tests.conftest import missing_real
from tests.probes.test_probe_cli_and_secrets import run_cli
from tests.probes.test_tls_facts import one_service_config
from tests.real import dovecot as real_dovecot
from tests.real.dovecot import Dovecot, DovecotUnavailable, run_dovecot

pytestmark = pytest.mark.real
dovecot_lmtp = real_dovecot.dovecot_lmtp  # shared with every module that uses it
PHASES = {"submit", "deliver", "fetch", "cleanup"}


class LmtpRelay:
    """Forwards what the sim SMTP server accepted to Dovecot's LMTP, one message at a time;
    ``hold`` keeps the mail queued (a stuck delivery), ``junk`` files it as spam."""

    def __init__(self, sim: SmtpServer, lmtp_port: int) -> None:
        self.sim, self.lmtp_port = sim, lmtp_port
        self.released = asyncio.Event()
        self.released.set()
        self.junk = False
        self.headers = b""  # prepended to each mail, as a verifier adds Authentication-Results
        self.forwarded = 0
        self.progress = asyncio.Condition()

    async def run(self) -> None:
        while True:
            message = (await self.sim.wait_for_messages(self.forwarded + 1))[self.forwarded]
            await self.released.wait()
            rcpts = [r.replace("@", "+Junk@", 1) if self.junk else r for r in message.rcpt_tos]
            await asyncio.to_thread(self._deliver, message.mail_from, rcpts, message.data)
            async with self.progress:
                self.forwarded += 1
                self.progress.notify_all()

    async def drained(self) -> None:
        async with self.progress:
            await self.progress.wait_for(lambda: self.forwarded == len(self.sim.messages))

    def _deliver(self, sender: str, rcpts: list[str], data: bytes) -> None:
        with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
            lmtp.sendmail(sender, rcpts, self.headers + data)


@contextlib.asynccontextmanager
async def relay_to(
    dovecot: Dovecot, ca_file: str, submit_tls: ssl.SSLContext | None = None
) -> AsyncIterator[tuple[LmtpRelay, RoundtripService]]:
    """The sim SMTP server (with STARTTLS when given a context) relaying into Dovecot."""
    assert dovecot.lmtp_port is not None
    tls = "starttls" if submit_tls else "none"
    users = {dovecot.username: dovecot.password}
    async with SmtpServer(users=users, tls=tls, ssl_context=submit_tls) as sim:
        relay = LmtpRelay(sim, dovecot.lmtp_port)
        task = asyncio.create_task(relay.run())
        service = RoundtripService.model_validate({
            "protocol": "roundtrip",
            "ca_file": ca_file,
            "auth": {"username": dovecot.username, "password_env": "UNUSED_HERE"},
            "submit": {"host": "127.0.0.1", "port": sim.port, "tls": tls},
            "mailbox": {"host": "127.0.0.1", "port": dovecot.imap_port, "tls": "starttls"},
        })  # fmt: skip
        try:
            yield relay, service
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


@pytest.fixture
async def relay(
    dovecot_lmtp: Dovecot, ca_file: str, server_tls: ssl.SSLContext
) -> AsyncIterator[tuple[LmtpRelay, RoundtripService]]:
    async with relay_to(dovecot_lmtp, ca_file, server_tls) as pair:
        yield pair


async def probe(dovecot: Dovecot, service: RoundtripService, limit: float = 10) -> ProbeResult:
    creds = Credentials(dovecot.username, dovecot.password)
    creds = Credentials(creds.username, creds.password, submit=creds)
    return await run_probe(PROBES["roundtrip"], service, limit=limit, credentials=creds)


def mail_files(dovecot: Dovecot) -> dict[str, list[bytes]]:
    """Every message file by folder, read straight from the Maildir."""
    assert dovecot.home is not None
    found: dict[str, list[bytes]] = {}
    for folder, path in (("INBOX", Path("Maildir")), ("Junk", Path("Maildir/.Junk"))):
        for sub in ("new", "cur"):
            for file in sorted((dovecot.home / path / sub).glob("*")):
                found.setdefault(folder, []).append(file.read_bytes())
    return found


def probe_mails(dovecot: Dovecot) -> int:
    marker = f"{PROBE_HEADER}:".encode()
    return sum(marker in data for files in mail_files(dovecot).values() for data in files)


def others(dovecot: Dovecot) -> list[bytes]:
    marker = f"{PROBE_HEADER}:".encode()
    return [d for files in mail_files(dovecot).values() for d in files if marker not in d]


async def test_found_by_idle_and_cleaned_up(
    dovecot_lmtp: Dovecot, relay: tuple[LmtpRelay, RoundtripService]
) -> None:
    _, service = relay
    before = others(dovecot_lmtp)
    result = await probe(dovecot_lmtp, service)
    assert result.ok, result.detail + dovecot_lmtp.log_tail()
    assert set(result.phases) == PHASES
    assert sum(result.phases.values()) == pytest.approx(result.duration, abs=1e-6)
    assert result.detail.startswith("in INBOX") and "seen by IDLE" in result.detail
    assert "INTERNALDATE" in result.detail
    assert result.tls is not None and result.tls.error is None  # of both STARTTLS handshakes
    assert probe_mails(dovecot_lmtp) == 0
    assert others(dovecot_lmtp) == before and len(before) >= dovecot_lmtp.messages


async def test_delivery_into_junk_is_ok_with_detail_junk(
    dovecot_lmtp: Dovecot, relay: tuple[LmtpRelay, RoundtripService]
) -> None:
    forwarder, service = relay
    forwarder.junk = True
    result = await probe(dovecot_lmtp, service)
    assert result.ok, result.detail + dovecot_lmtp.log_tail()
    assert result.detail.startswith("junk: in Junk")
    assert probe_mails(dovecot_lmtp) == 0


async def test_stuck_delivery_is_slow_then_an_outage(
    dovecot_lmtp: Dovecot, relay: tuple[LmtpRelay, RoundtripService]
) -> None:
    forwarder, service = relay
    slow_after = 0.3
    forwarder.released.clear()
    asyncio.get_running_loop().call_later(0.5, forwarder.released.set)
    slow = await probe(dovecot_lmtp, service)
    assert slow.ok and slow.is_bad(slow_after) and slow.verdict(slow_after) == "slow"
    assert slow.phases["deliver"] >= 0.5 > slow.phases["submit"]

    forwarder.released.clear()  # now it holds everything
    rules = RunRules(timedelta(seconds=1.5), timedelta(seconds=3), restore_after=2)
    observations: list[Observation] = []
    while not observations or observations[-1].at - observations[0].at < rules.outage_after:
        stuck = await probe(dovecot_lmtp, service, limit=0.6)
        assert stuck.error_kind is ErrorKind.TIMEOUT and "during deliver" in stuck.detail
        observations.append(Observation.of(stuck.started_at, stuck.is_bad(slow_after)))
    _, events = fold(RuleState(), observations, rules, observations[-1].at)
    assert events == [Opened(observations[0].at, observations[0].at + rules.outage_after)]

    # The held mails arrive after their probes gave up: a later probe removes them once
    # they are an hour old; here the test removes them, touching nothing else.
    before = others(dovecot_lmtp)
    forwarder.released.set()
    await asyncio.wait_for(forwarder.drained(), 10)
    assert probe_mails(dovecot_lmtp) == len(observations)
    remove_probe_mails(dovecot_lmtp)
    assert others(dovecot_lmtp) == before


def remove_probe_mails(dovecot: Dovecot) -> None:
    assert dovecot.home is not None
    marker = f"{PROBE_HEADER}:".encode()
    for file in dovecot.home.glob("Maildir/**/*"):
        if file.is_file() and file.parent.name in ("new", "cur") and marker in file.read_bytes():
            file.unlink()


async def test_probe_command_shows_the_phases(
    dovecot_lmtp: Dovecot, relay: tuple[LmtpRelay, RoundtripService], tmp_path: Path
) -> None:
    _, service = relay
    spec = service.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    spec["protocol"] = "roundtrip"
    spec["auth"] = {"username": dovecot_lmtp.username, "password_env": "OW_TEST_RT_PW"}
    path = tmp_path / "ow.yaml"
    path.write_text(yaml.safe_dump(one_service_config("roundtrip", spec)))
    env = {**os.environ, "OW_TEST_RT_PW": dovecot_lmtp.password}
    code, out, err = await run_cli("probe", "-c", str(path), "eu-de-1/roundtrip", env=env)
    assert code == 0, out + err
    assert out.startswith("eu-de-1/roundtrip: ok in ")
    for phase in ("submit", "deliver", "fetch", "cleanup"):
        assert f"\n  {phase} " in out
    assert "seen by IDLE" in out and dovecot_lmtp.password not in out
    assert "SMTP AUTH PLAIN, IMAP LOGIN" in out
    assert probe_mails(dovecot_lmtp) == 0


# A Dovecot that announces neither IDLE nor UIDPLUS nor WITHIN: the probe polls, and
# expunges with a plain EXPUNGE only when nothing but its own mail is flagged \Deleted.
PLAIN_IMAP = "imap_capability = IMAP4rev1 SASL-IR LITERAL+ ID ENABLE\n"


@pytest.fixture(scope="module")
def plain_dovecot(ca: trustme.CA) -> Iterator[Dovecot]:
    try:
        with run_dovecot(ca, lmtp=True, extra=PLAIN_IMAP) as dovecot:
            yield dovecot
    except DovecotUnavailable as exc:
        missing_real(str(exc))


@pytest.fixture
async def plain_relay(
    plain_dovecot: Dovecot, ca_file: str
) -> AsyncIterator[tuple[LmtpRelay, RoundtripService]]:
    async with relay_to(plain_dovecot, ca_file) as pair:
        yield pair


def flag_deleted(dovecot: Dovecot, uid: str) -> None:
    """Someone else's client marks a message \\Deleted (and leaves it for its own EXPUNGE)."""
    with imaplib.IMAP4("127.0.0.1", dovecot.imap_port) as client:
        client.login(dovecot.username, dovecot.password)
        client.select("INBOX")
        client.uid("STORE", uid, "+FLAGS.SILENT", "(\\Deleted)")
        client.logout()


async def test_polling_and_plain_expunge(
    plain_dovecot: Dovecot, plain_relay: tuple[LmtpRelay, RoundtripService]
) -> None:
    _, service = plain_relay
    before = others(plain_dovecot)
    result = await probe(plain_dovecot, service)
    assert result.ok, result.detail + plain_dovecot.log_tail()
    assert "seen by polling" in result.detail
    assert probe_mails(plain_dovecot) == 0 and others(plain_dovecot) == before


async def test_another_clients_deleted_message_is_never_expunged(
    plain_dovecot: Dovecot, plain_relay: tuple[LmtpRelay, RoundtripService]
) -> None:
    _, service = plain_relay
    await asyncio.to_thread(flag_deleted, plain_dovecot, "1")
    before = others(plain_dovecot)
    result = await probe(plain_dovecot, service)
    assert result.ok, result.detail
    assert others(plain_dovecot) == before  # the flagged message is still there
    assert probe_mails(plain_dovecot) == 1  # its own waits, flagged, for a later EXPUNGE
    remove_probe_mails(plain_dovecot)


async def test_the_certificate_expiring_first_of_both_sides(
    dovecot_lmtp: Dovecot, ca: trustme.CA, ca_file: str
) -> None:
    """Submission presents a certificate with 5 days left, the mailbox a long one: the
    round trip's facts are the submission's."""
    short = {c.name: c for c in cases(ca)}["expires-in-5-days"]
    async with relay_to(dovecot_lmtp, ca_file, short.server) as (_, service):
        result = await probe(dovecot_lmtp, service)
    assert result.ok, result.detail
    assert result.tls is not None and result.tls.chain_not_after == short.chain_not_after
