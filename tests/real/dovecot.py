"""A throwaway Dovecot on 127.0.0.1 for the probe tests: IMAP, IMAPS, POP3 and POP3S.

One instance per test run, on free ports, with a certificate from the session's trustme CA,
one passwd-file user with a random password and a maildir holding ``MESSAGES`` messages.
Everything lives in one temporary directory, removed when the run ends.

Pitfalls met on the way, kept here so nobody meets them twice:

* pytest's ``tmp_path`` lives under ``/tmp/pytest-of-root`` (mode 0700): Dovecot's auth and
  mail processes run as unprivileged users and could not reach files there, and the
  sockets in ``base_dir`` must stay under the 108-byte limit of a UNIX socket path. Hence a
  short ``mkdtemp`` directory with mode 0755.
* Dovecot refuses mail uids outside ``first_valid_uid`` (500 by default) and
  ``last_valid_uid``; the mail user (``nobody`` under root, else whoever runs the tests,
  whose uid may well be below 500) is made the only valid one.
* The passwd-file is read by the auth process, which runs as ``dovecot``, not as root.
* Dovecot counts a connection whose remote and local addresses are equal as secured: on
  127.0.0.1 it never announces LOGINDISABLED, whatever ``disable_plaintext_auth`` says.
  The AUTHENTICATE PLAIN path is tested against a scripted server instead.
* ``auth_failure_delay`` (2 s by default) would slow every bad-password test, and so would
  anvil's auth penalty: after one failure from an IP, every login from it (good ones too)
  waits 4 s and more. Neither ``login_trusted_networks`` (2.3 no longer exempts them) nor
  a ``nodelay`` passdb field helps; an auth process that cannot reach anvil's penalty
  socket (mode 0) skips the penalty altogether.
* Without root, Dovecot runs all its processes as the current user and cannot chroot.
* The round trip's instance (``lmtp=True``, Debian's dovecot-lmtpd) takes mail on an LMTP
  port; with ``recipient_delimiter = +`` and ``lmtp_save_to_detail_mailbox`` a mail for
  ``user+Junk@`` lands in Junk. The Junk folder (Maildir++ ``.Junk``) exists from the start,
  or the probe's first look would find no such folder and stop looking there.
* Dovecot's IDLE notice came about half a second after an LMTP delivery here (a SEARCH at
  once found the mail sooner): a round trip's ``deliver`` phase includes it.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

from tests.conftest import missing_real

USERNAME = "probe@example.test"
MESSAGES = 3
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
ATTEMPTS = 3  # a free port may be taken by someone else before Dovecot binds it


@dataclass(frozen=True)
class Dovecot:
    imap_port: int  # clear text, STARTTLS offered, LOGIN allowed without TLS
    imaps_port: int
    pop3_port: int  # clear text, STLS offered, USER/PASS allowed without TLS
    pop3s_port: int
    username: str
    password: str = field(repr=False)
    messages: int
    log_path: Path
    lmtp_port: int | None = None  # Dovecot's own LMTP, where a test's relay delivers
    home: Path | None = None  # the user's home (Maildir below it)

    def log_tail(self, lines: int = 20) -> str:
        return _tail(self.log_path, lines)


class DovecotUnavailable(Exception):
    """Dovecot is not installed or did not start; the message says why."""


_STASH = pytest.StashKey[Dovecot | str]()
_LMTP_STASH = pytest.StashKey[Dovecot | str]()


@pytest.fixture(scope="session")
def dovecot(request: pytest.FixtureRequest, ca: trustme.CA) -> Dovecot:
    """The run's Dovecot, started on first use and stopped when pytest ends.

    Kept in the config's stash so that every module registering this fixture shares one
    instance (and one failure, reported without retrying).
    """
    return _shared(request.config, _STASH, ca, lmtp=False)


@pytest.fixture(scope="session")
def dovecot_lmtp(request: pytest.FixtureRequest, ca: trustme.CA) -> Dovecot:
    """A second Dovecot that also takes mail over LMTP (dovecot-lmtpd), for the round trip:
    ``user+Junk@`` is delivered into the Junk folder. Its own instance, so the probe tests
    of the first never see the round trip's mail."""
    return _shared(request.config, _LMTP_STASH, ca, lmtp=True)


def _shared(
    config: pytest.Config, key: pytest.StashKey[Dovecot | str], ca: trustme.CA, *, lmtp: bool
) -> Dovecot:
    found = config.stash.get(key, None)
    if found is None:
        stack = contextlib.ExitStack()
        config.add_cleanup(stack.close)
        try:
            found = stack.enter_context(run_dovecot(ca, lmtp=lmtp))
        except DovecotUnavailable as exc:
            found = str(exc)
        config.stash[key] = found
    if isinstance(found, str):
        missing_real(found)
    assert isinstance(found, Dovecot)
    return found


@contextlib.contextmanager
def run_dovecot(
    ca: trustme.CA,
    *,
    lmtp: bool = False,
    certificate: tuple[bytes, bytes] | None = None,
    extra: str = "",
) -> Iterator[Dovecot]:
    """``certificate``: the server's chain and key (PEM) instead of one issued by ``ca``;
    ``extra``: settings appended to the config."""
    binary = shutil.which("dovecot", path=f"/usr/sbin:/usr/local/sbin:{os.defpath}")
    if binary is None:
        raise DovecotUnavailable(
            "Dovecot is not installed (Debian: apt-get install dovecot-imapd dovecot-pop3d)"
        )
    if lmtp and not Path("/usr/lib/dovecot/lmtp").exists():
        raise DovecotUnavailable("Dovecot's LMTP is not installed (Debian: dovecot-lmtpd)")
    root = Path(tempfile.mkdtemp(prefix="ow-dovecot-"))
    try:
        root.chmod(0o755)
        password = secrets.token_urlsafe(12) + ' "\\'  # quoting and escaping get exercised
        users = _Users.here()
        _write_tls(root, ca, certificate)
        _write_mail(root, users, password, folders=("Junk",) if lmtp else ())
        for attempt in range(1, ATTEMPTS + 1):
            ports = _free_ports(5 if lmtp else 4)
            conf = root / "dovecot.conf"
            lmtp_conf = _lmtp(ports[4]) if lmtp else ""
            conf.write_text(_config(root, users, ports[:4]) + lmtp_conf + extra)
            with _started(binary, conf, root, ports, last_attempt=attempt == ATTEMPTS) as ok:
                if not ok:
                    continue
                imap, imaps, pop3, pop3s = ports[:4]
                yield Dovecot(
                    imap, imaps, pop3, pop3s, USERNAME, password, MESSAGES, root / "dovecot.log",
                    lmtp_port=ports[4] if lmtp else None, home=root / "home" / "probe",
                )  # fmt: skip
                return
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class _Users:
    """Who runs what: root runs Dovecot the packaged way, anyone else runs it as themself."""

    root: bool
    internal: str  # auth and other internal processes; reads the passwd-file
    internal_group: str
    login: str
    mail_uid: int
    mail_gid: int

    @classmethod
    def here(cls) -> _Users:
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            try:
                pwd.getpwnam("dovecot")
                pwd.getpwnam("dovenull")
            except KeyError as exc:
                raise DovecotUnavailable(f"Dovecot's system user is missing: {exc}") from None
            return cls(True, "dovecot", "dovecot", "dovenull", nobody.pw_uid, nobody.pw_gid)
        me = pwd.getpwuid(os.getuid())
        group = grp.getgrgid(os.getgid()).gr_name
        return cls(False, me.pw_name, group, me.pw_name, me.pw_uid, me.pw_gid)


def _write_tls(root: Path, ca: trustme.CA, certificate: tuple[bytes, bytes] | None) -> None:
    if certificate is None:
        cert = ca.issue_cert("localhost", "127.0.0.1")
        certificate = (
            b"".join(pem.bytes() for pem in cert.cert_chain_pems),
            cert.private_key_pem.bytes(),
        )
    (root / "tls").mkdir(mode=0o700)  # read by the master process (root) only
    (root / "tls" / "cert.pem").write_bytes(certificate[0])
    (root / "tls" / "key.pem").write_bytes(certificate[1])


def _write_mail(root: Path, users: _Users, password: str, folders: tuple[str, ...] = ()) -> None:
    home = root / "home" / "probe"
    for folder in ("", *(f".{name}" for name in folders)):  # Maildir++: .Junk beside INBOX
        for sub in ("cur", "new", "tmp"):
            (home / "Maildir" / folder / sub).mkdir(parents=True)
    for n in range(1, MESSAGES + 1):
        (home / "Maildir" / "new" / f"{1_700_000_000 + n}.M{n}P1.outagewatch").write_text(
            f"From: noc@example.test\r\nTo: {USERNAME}\r\nSubject: message {n}\r\n"
            "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\r\nbody\r\n"
        )
    for path in (root / "home", *(root / "home").rglob("*")):
        os.chown(path, users.mail_uid, users.mail_gid)
    users_file = root / "users"
    users_file.write_text(
        f"{USERNAME}:{{PLAIN}}{password}:{users.mail_uid}:{users.mail_gid}::{home}::\n"
    )
    users_file.chmod(0o640)
    if users.root:
        shutil.chown(users_file, group=users.internal_group)
    (root / "state").mkdir()


def _config(root: Path, users: _Users, ports: list[int]) -> str:
    imap, imaps, pop3, pop3s = ports
    # Login, anvil and ipc processes chroot (to base_dir/login, base_dir/empty): root only.
    chroot = "" if users.root else "  chroot =\n"
    ipc = "" if users.root else "service ipc {\n  chroot =\n}\n"
    return f"""\
# Written by tests/real/dovecot.py for one test run. Loopback only.
protocols = imap pop3
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
auth_verbose = yes
default_internal_user = {users.internal}
default_internal_group = {users.internal_group}
default_login_user = {users.login}
first_valid_uid = {users.mail_uid}
last_valid_uid = {users.mail_uid}
first_valid_gid = {users.mail_gid}
last_valid_gid = {users.mail_gid}
mail_location = maildir:~/Maildir
ssl = yes
ssl_cert = <{root}/tls/cert.pem
ssl_key = <{root}/tls/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users
}}
service anvil {{
{chroot}  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{ipc}service imap-login {{
{chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
{chroot}  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
}}
"""


def _lmtp(port: int) -> str:
    # user+Junk@ lands in Junk: how the round-trip test plays a spam filter.
    return f"""\
protocols = $protocols lmtp
recipient_delimiter = +
lmtp_save_to_detail_mailbox = yes
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {port}
  }}
}}
"""


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


@contextlib.contextmanager
def _started(
    binary: str, conf: Path, root: Path, ports: list[int], *, last_attempt: bool
) -> Iterator[bool]:
    """Run Dovecot until the block ends; yield False if a port was taken (try others)."""
    stderr_path = root / "stderr.log"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(  # noqa: S603 - a fixed binary, arguments of our own
            [binary, "-F", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,  # a Ctrl-C in pytest reaches pytest, not Dovecot first
        )
    try:
        problem = _wait_listening(proc, ports)
        if problem is not None:
            logs = _tail(root / "dovecot.log", 15) + _tail(stderr_path, 15)
            if "Address already in use" in logs and not last_attempt:
                yield False
                return
            raise DovecotUnavailable(f"Dovecot did not start: {problem}\n{logs}")
        yield True
    finally:
        _stop(proc)


def _wait_listening(proc: subprocess.Popen[bytes], ports: list[int]) -> str | None:
    deadline = time.monotonic() + START_TIMEOUT
    waiting = list(ports)
    while waiting:
        try:
            with socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.5):
                waiting.pop(0)
                continue
        except OSError:
            pass
        if time.monotonic() > deadline:
            return f"ports {waiting} not listening after {START_TIMEOUT:g}s"
        try:
            code = proc.wait(timeout=0.05)  # the pause between two polls, and the exit check
        except subprocess.TimeoutExpired:
            continue
        return f"dovecot exited with status {code}"
    return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "".join(f"  {path.name}: {line}\n" for line in text.splitlines()[-lines:])
