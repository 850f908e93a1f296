"""Every probe against every hostile shape of sim/: a server that never stops talking costs
a capped amount, then a ``protocol`` failure naming the limit; one that drips ends at the
probe's timeout; neither burns CPU while it lasts."""

from __future__ import annotations

import time
from typing import Any

import pytest

from outagewatch.config import (
    HttpService,
    ImapService,
    Pop3Service,
    RoundtripService,
    Service,
    SmtpService,
)
from outagewatch.probes import PROBES, Credentials, ErrorKind, ProbeResult, run_probe
from outagewatch.sim import Faults, ImapServer, SimServer, SmtpServer
from tests.sim.simhelpers import SERVERS

# Wall time and CPU of each probe: measured alone, after the parallel run (see the Makefile).
pytestmark = pytest.mark.solo

USER, PASSWORD = "probe@example.net", "s3cret-Pw!42"
LIMIT = 5.0
# What one probe of a server that floods us may cost, CPU and wall clock: loopback hands
# over 64 KiB in well under a millisecond; the slack is for a loaded CI machine. Without
# the budgets the probe reads until LIMIT, and (HTTP) with quadratic CPU.
MAX_CPU, MAX_WALL = 0.25, 1.5

# The limit each protocol's failure names, per shape. HTTP's login runs in aiohttp.
ENDLESS_LINE = {
    "http": "the response head is longer than 65536 bytes",
    "http-login": "a line of the response head is longer than 8190 bytes",
    "smtp": "reply line longer than 2048 bytes",
    "imap": "line longer than 65536 bytes",
    "pop3": "line longer than 8192 bytes",
}
ENDLESS_LINES = {
    "http": "the response has more than 100 header lines",
    "http-login": "the response has more than 100 header lines",
    "smtp": "a reply of more than 100 lines",
    "imap": "more than 1000 untagged lines in one answer",
    # A probe reads one line a command: what follows the greeting is not an answer.
    "pop3": "not a POP3 answer: 'filler'",
}
CASES = ["http", "http-login", "smtp", "imap", "pop3"]


def service_for(server: SimServer, case: str, *, tls: str = "none") -> Service:
    if server.protocol == "http":
        scheme = "https" if tls == "implicit" else "http"
        base = f"{scheme}://127.0.0.1:{server.port}"
        login = {"login": {"url": f"{base}/login"}} if case == "http-login" else {}
        auth = {"auth": {"username": USER, "password_env": "UNUSED"}} if login else {}
        return HttpService(protocol="http", url=f"{base}/", **login, **auth)  # type: ignore[arg-type]
    model: Any = {"smtp": SmtpService, "imap": ImapService, "pop3": Pop3Service}[server.protocol]
    return model(  # type: ignore[no-any-return]
        protocol=server.protocol, host="127.0.0.1", port=server.port, tls=tls
    )


async def probe(case: str, faults: Faults, *, limit: float = LIMIT) -> tuple[ProbeResult, float]:
    """The probe's result and the CPU this process spent on it (the sim's side included)."""
    protocol = case.removesuffix("-login")
    credentials = Credentials(USER, PASSWORD) if case == "http-login" else None
    async with SERVERS[protocol](faults=faults, users={USER: PASSWORD}) as server:
        cpu = time.process_time()
        result = await run_probe(
            PROBES[protocol], service_for(server, case), limit=limit, credentials=credentials
        )
        return result, time.process_time() - cpu


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize(
    ("mode", "limits"),
    [("endless_line", ENDLESS_LINE), ("endless_lines", ENDLESS_LINES)],
    ids=["endless_line", "endless_lines"],
)
async def test_a_server_that_never_stops_costs_a_capped_amount(
    case: str, mode: str, limits: dict[str, str]
) -> None:
    result, cpu = await probe(case, Faults(hostile=mode))  # type: ignore[arg-type]

    assert result.error_kind is ErrorKind.PROTOCOL, result.detail
    assert limits[case] in result.detail
    # The read stopped at the budget, not at the timeout, and spent next to nothing.
    assert result.duration < MAX_WALL
    assert cpu < MAX_CPU


@pytest.mark.parametrize("case", CASES)
async def test_a_server_that_drips_ends_at_the_timeout_without_burning_cpu(case: str) -> None:
    limit = 1.0
    faults = Faults(hostile="drip", drip_interval=0.05)

    result, cpu = await probe(case, faults, limit=limit)

    assert result.error_kind is ErrorKind.TIMEOUT, result.detail
    # The clock starts with the first phase, a hair after the runner's timeout does.
    assert limit - 0.05 <= result.duration < limit + 0.5
    assert cpu < MAX_CPU


# Where a stalled handshake is timed: aiosmtplib handshakes and reads the banner in one
# step, aiohttp connects and handshakes in one.
HANDSHAKE_PHASE = {"http": "tls", "http-login": "connect", "smtp": "banner", "imap": "tls"}


@pytest.mark.parametrize("case", [*HANDSHAKE_PHASE, "pop3"])
async def test_a_tls_handshake_that_never_ends_ends_at_the_timeout(case: str) -> None:
    """The server takes the connection and never answers the ClientHello."""
    limit = 1.0
    protocol = case.removesuffix("-login")
    credentials = Credentials(USER, PASSWORD) if case == "http-login" else None
    async with SERVERS[protocol](faults=Faults(hang=True)) as server:
        cpu = time.process_time()
        result = await run_probe(
            PROBES[protocol],
            service_for(server, case, tls="implicit"),
            limit=limit,
            credentials=credentials,
        )
        cpu = time.process_time() - cpu

    assert result.error_kind is ErrorKind.TIMEOUT, result.detail
    assert f"(during {HANDSHAKE_PHASE.get(case, 'tls')})" in result.detail
    assert limit - 0.05 <= result.duration < limit + 0.5
    assert cpu < MAX_CPU


def roundtrip(submit: SimServer, mailbox: SimServer) -> RoundtripService:
    return RoundtripService.model_validate({
        "protocol": "roundtrip",
        "auth": {"username": USER, "password_env": "UNUSED"},
        "submit": {"host": "127.0.0.1", "port": submit.port, "tls": "none"},
        "mailbox": {"host": "127.0.0.1", "port": mailbox.port, "tls": "none", "junk": None},
    })  # fmt: skip


@pytest.mark.parametrize("hostile", ["mailbox", "submit"])
@pytest.mark.parametrize("mode", ["endless_line", "endless_lines", "drip"])
async def test_the_round_trip_reads_both_sides_within_their_budgets(
    hostile: str, mode: str
) -> None:
    """The round trip speaks through the same two clients: an IMAP mailbox (logged into
    first) and an SMTP submission, either of which may be the hostile one."""
    limit = 1.0
    faults = Faults(hostile=mode, drip_interval=0.05)  # type: ignore[arg-type]
    users = {USER: PASSWORD}
    async with (
        SmtpServer(users=users, faults=faults if hostile == "submit" else None) as submit,
        ImapServer(users=users, faults=faults if hostile == "mailbox" else None) as mailbox,
    ):
        credentials = Credentials(USER, PASSWORD)
        cpu = time.process_time()
        result = await run_probe(
            PROBES["roundtrip"],
            roundtrip(submit, mailbox),
            limit=limit,
            credentials=Credentials(USER, PASSWORD, submit=credentials),
        )
        cpu = time.process_time() - cpu

    assert cpu < MAX_CPU
    if mode == "drip":
        assert result.error_kind is ErrorKind.TIMEOUT, result.detail
        return
    assert result.error_kind is ErrorKind.PROTOCOL, result.detail
    assert (ENDLESS_LINE if mode == "endless_line" else ENDLESS_LINES)[
        "smtp" if hostile == "submit" else "imap"
    ] in result.detail
    assert result.duration < MAX_WALL
