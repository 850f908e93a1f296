"""The round trip's cost per probe beside the IMAP and SMTP probes it is made of.

A real Dovecot with LMTP (tests/real/dovecot.py) holds the mailbox; the sim SMTP server
takes the submission and a relay in this process hands each mail to Dovecot's LMTP. The
probes run sequentially in a child process (bench/roundtrip_probes.py) whose own CPU time
is the figure: CPU seconds per 1,000 probes, and the median duration of one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import smtplib
import sys
from typing import Any

import trustme
from tests.real.dovecot import Dovecot, DovecotUnavailable, run_dovecot

from bench.children import die_with_parent
from outagewatch.sim import SmtpServer

PROBES_PER_KIND = 200


async def _relay(sim: SmtpServer, lmtp_port: int) -> None:
    forwarded = 0
    while True:
        message = (await sim.wait_for_messages(forwarded + 1))[forwarded]
        await asyncio.to_thread(
            _deliver, lmtp_port, message.mail_from, message.rcpt_tos, message.data
        )
        forwarded += 1


def _deliver(port: int, sender: str, rcpts: tuple[str, ...], data: bytes) -> None:
    with smtplib.LMTP("127.0.0.1", port) as lmtp:
        lmtp.sendmail(sender, list(rcpts), data)


def _specs(dovecot: Dovecot, smtp_port: int, ca_file: str, count: int) -> dict[str, Any]:
    auth = {"username": dovecot.username, "password_env": "UNUSED"}
    imap = {"host": "127.0.0.1", "port": dovecot.imap_port, "tls": "starttls"}
    smtp = {"host": "127.0.0.1", "port": smtp_port, "tls": "none"}
    services: dict[str, dict[str, Any]] = {
        "imap (STARTTLS, login, select)": {"protocol": "imap", **imap, "auth": auth},
        "smtp (AUTH, no TLS)": {"protocol": "smtp", **smtp, "auth": auth},
        "roundtrip (smtp + IMAP STARTTLS, IDLE)": {
            "protocol": "roundtrip", "auth": auth, "submit": smtp, "mailbox": imap,
        },
    }  # fmt: skip
    return {
        name: {"service": {**service, "ca_file": ca_file}, "count": count,
               "username": dovecot.username, "password": dovecot.password}
        for name, service in services.items()
    }  # fmt: skip


async def _measure(dovecot: Dovecot, ca_file: str, count: int) -> dict[str, Any]:
    assert dovecot.lmtp_port is not None
    async with SmtpServer(users={dovecot.username: dovecot.password}) as sim:
        relay = asyncio.create_task(_relay(sim, dovecot.lmtp_port))
        try:
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.roundtrip_probes",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                preexec_fn=die_with_parent,
            )  # fmt: skip
            specs = json.dumps(_specs(dovecot, sim.port, ca_file, count)).encode()
            out, _ = await asyncio.wait_for(child.communicate(specs), timeout=600)
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
    return dict(json.loads(out))


def section(count: int = PROBES_PER_KIND) -> str:
    """The report's section; says why when Dovecot (with LMTP) is not there."""
    ca = trustme.CA()
    try:
        with contextlib.ExitStack() as stack:
            dovecot = stack.enter_context(run_dovecot(ca, lmtp=True))
            ca_file = stack.enter_context(ca.cert_pem.tempfile())
            figures = asyncio.run(_measure(dovecot, ca_file, count))
    except DovecotUnavailable as exc:
        return f"== Round trip: not measured ({str(exc).splitlines()[0]})"
    lines = [
        f"== Round trip beside its parts: {count} probes of each, one at a time, against "
        "a real Dovecot (LMTP delivery through a relay)",
        f"{'probe':<42}{'CPU s per 1,000':>16}{'median':>10}{'failed':>8}",
    ]
    for name, f in figures.items():
        per_1000 = f["cpu"] / f["probes"] * 1000
        lines.append(f"{name:<42}{per_1000:>16.2f}{f['median'] * 1000:>8.1f}ms{f['failed']:>8}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(section(int(sys.argv[1]) if len(sys.argv) > 1 else PROBES_PER_KIND))
