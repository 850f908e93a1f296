"""A throwaway authoritative DNS server (Debian's NSD) on 127.0.0.1, for the DNS probes.

``run_nsd({"example.test": records, ...})`` writes one zone file per zone (SOA and NS are
added), starts ``nsd -d`` on a free port (UDP and TCP) and yields an ``Nsd`` whose
``update()`` rewrites a zone and waits until NSD serves the new serial.

Pitfalls met on the way:

* NSD compiles its zones into a database by default; ``database: ""`` keeps them in memory
  only, and every path (pid, xfrd state, zone list) must point into the temporary folder.
* As root NSD drops privileges to ``nsd`` and may chroot: ``username: ""`` and
  ``chroot: ""`` keep it as whoever runs the tests.
* SIGHUP rereads only zone files whose mtime changed: ``update()`` bumps the serial and the
  mtime, then asks for the SOA until the new serial answers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode

START_TIMEOUT = 10.0
ATTEMPTS = 3


class NsdUnavailable(Exception):
    """NSD is not installed or did not start; the message says why."""


@dataclass
class Nsd:
    port: int
    root: Path
    process: subprocess.Popen[bytes]
    serials: dict[str, int] = field(default_factory=dict)

    @property
    def resolver(self) -> str:
        return f"127.0.0.1:{self.port}"

    def update(self, zone: str, records: str) -> None:
        """Serve ``records`` as ``zone`` from now on (SIGHUP, then wait for the serial)."""
        serial = self.serials[zone] + 1
        path = self.root / f"{zone}.zone"
        path.write_text(zone_text(zone, records, serial))
        later = time.time() + 2  # SIGHUP looks at mtimes: make this one differ for sure
        os.utime(path, (later, later))
        self.process.send_signal(signal.SIGHUP)
        _wait_for_serial(self, zone, serial)
        self.serials[zone] = serial

    def log_tail(self) -> str:
        return _tail(self.root / "nsd.log")


def zone_text(zone: str, records: str, serial: int) -> str:
    return (
        f"$ORIGIN {zone}.\n$TTL 60\n"
        f"@ IN SOA ns.{zone}. hostmaster.{zone}. {serial} 3600 600 86400 60\n"
        f"@ IN NS ns.{zone}.\nns IN A 127.0.0.1\n{records}\n"
    )


def _config(root: Path, port: int, zones: list[str], also_on: tuple[str, ...]) -> str:
    also = "".join(f"    ip-address: {address}@53\n" for address in also_on)
    zone_blocks = "".join(f"zone:\n    name: {z}\n    zonefile: {z}.zone\n" for z in zones)
    return f"""\
# Written by tests/real/nsd.py for one test. Loopback only.
server:
    ip-address: 127.0.0.1@{port}
{also}    port: {port}
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{root}"
    database: ""
    zonelistfile: "{root}/zone.list"
    xfrdfile: "{root}/xfrd.state"
    xfrdir: "{root}"
    pidfile: "{root}/nsd.pid"
    logfile: "{root}/nsd.log"
    server-count: 1
    verbosity: 1
remote-control:
    control-enable: no
{zone_blocks}"""


@contextlib.contextmanager
def run_nsd(zones: dict[str, str], also_on: tuple[str, ...] = ()) -> Iterator[Nsd]:
    """``also_on``: loopback addresses where NSD answers on port 53 too, for programs that
    can only ask the system's resolver (see tests/real/mailpipe.py)."""
    binary = shutil.which("nsd", path="/usr/sbin:/usr/local/sbin:/usr/bin")
    if binary is None:
        raise NsdUnavailable("NSD is not installed (Debian: apt-get install nsd)")
    root = Path(tempfile.mkdtemp(prefix="ow-nsd-"))
    try:
        for zone, records in zones.items():
            (root / f"{zone}.zone").write_text(zone_text(zone, records, 1))
        for attempt in range(1, ATTEMPTS + 1):
            port = _free_port()
            conf = root / "nsd.conf"
            conf.write_text(_config(root, port, list(zones), also_on))
            with (root / "stderr.log").open("wb") as stderr:
                proc = subprocess.Popen(  # noqa: S603 - a fixed binary, arguments of our own
                    [binary, "-d", "-c", str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                    start_new_session=True,
                )
            nsd = Nsd(port, root, proc, dict.fromkeys(zones, 1))
            try:
                problem = _wait_started(nsd, next(iter(zones)))
                if problem is None:
                    yield nsd
                    return
                logs = _tail(root / "nsd.log") + _tail(root / "stderr.log")
                if "already in use" not in logs or attempt == ATTEMPTS:
                    raise NsdUnavailable(f"NSD did not start: {problem}\n{logs}")
            finally:
                _stop(proc)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _soa_serial(nsd: Nsd, zone: str) -> int | None:
    query = dns.message.make_query(f"{zone}.", "SOA")
    try:
        reply = dns.query.udp(query, "127.0.0.1", port=nsd.port, timeout=0.2)
    except (dns.exception.Timeout, OSError):
        return None
    if reply.rcode() != dns.rcode.NOERROR or not reply.answer:
        return None
    return int(reply.answer[0][0].serial)


def _wait_started(nsd: Nsd, zone: str) -> str | None:
    return _wait_for_serial(nsd, zone, 1, raise_on_timeout=False)


CONSISTENT = 20


def _wait_for_serial(
    nsd: Nsd, zone: str, serial: int, *, raise_on_timeout: bool = True
) -> str | None:
    """Ask for the SOA (each query waits up to 0.2 s for its answer) until ``serial`` is the
    answer CONSISTENT times in a row: while NSD reloads, the old server process answers
    beside the new one for a moment, with the old zone (seen under load: the first answer
    had the new serial, the probe's next queries the old records)."""
    deadline = time.monotonic() + START_TIMEOUT
    in_a_row = 0
    while time.monotonic() < deadline:
        if nsd.process.poll() is not None:
            return f"nsd exited with status {nsd.process.returncode}"
        found = _soa_serial(nsd, zone)
        in_a_row = in_a_row + 1 if found == serial else 0
        if in_a_row == CONSISTENT:
            return None
        if found is not None and found > serial:
            return f"serial {found} is past {serial}"
        if in_a_row:
            time.sleep(0.01)
    problem = f"{zone} not served with serial {serial} after {START_TIMEOUT:g}s"
    if raise_on_timeout:
        raise AssertionError(f"{problem}\n{nsd.log_tail()}")
    return problem


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 at this moment."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket() as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise NsdUnavailable("no port free for both UDP and TCP")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "".join(f"  {path.name}: {line}\n" for line in text.splitlines()[-lines:])
