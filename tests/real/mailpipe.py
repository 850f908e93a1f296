"""A real mail platform on 127.0.0.1 for the round trip: Postfix takes the probe mail,
OpenDKIM signs it, Postfix hands it to itself again as a receiving MX would get it, where
OpenDKIM verifies the signature and OpenDMARC checks SPF and DMARC, both adding
Authentication-Results, and Postfix delivers it to Dovecot over LMTP.

    probe --SMTP--> [submit port: OpenDKIM signs] --content_filter smtp-->
        [mx port: OpenDKIM verifies, OpenDMARC checks SPF and DMARC] --LMTP--> Dovecot

DNS comes from the test's NSD. OpenDKIM asks it through libunbound (``ResolverConfiguration``,
forwarding to NSD's port). OpenDMARC has no such setting and asks the system resolver, which
cannot be given a port: it runs in its own mount namespace (``unshare --mount``), where
/etc/resolv.conf names NSD on port 53 of a loopback address of its own.

Pitfalls met on the way:

* Postfix runs as root with ``-c`` and its own config, queue and data directories; the
  queue's owner is ``postfix``, its ``maildrop`` and ``public`` belong to ``postdrop``
  (``postfix set-permissions`` would touch the system's directories, so they are made here).
* OpenDKIM and OpenDMARC drop to their users: the temporary folder is 0755, the key 0600
  owned by ``opendkim``.
* A mail that OpenDKIM signed must reach the verifier as another host's mail would: the
  ``mx`` listener is a second smtpd, reached through ``content_filter``.
* Unbound answers every name under ``test.`` itself (RFC 6761 local zones) unless given
  ``local-zone: "test." nodefault``; and it forwards to NSD (``forward-zone``), a stub zone
  drew no usable answer.
* Postfix logs only to syslog here (there is no /dev/log; ``maillog_file`` would need the
  ``postlogd`` service and ``postfix start``): a mail that does not arrive is looked for
  with ``postqueue -c ROOT/etc -p``. The master runs in the foreground (``master -d``).
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

AUTHSERV_ID = "mx.example.test"
START_TIMEOUT = 15.0


class PipelineUnavailable(Exception):
    """Postfix, OpenDKIM or OpenDMARC is missing or did not start; the message says why."""


@dataclass(frozen=True)
class Pipeline:
    submit_port: int
    root: Path

    def logs(self) -> str:
        return "".join(_tail(path) for path in sorted(self.root.glob("*.log")))


def _which(name: str, package: str) -> str:
    found = shutil.which(name, path="/usr/sbin:/usr/bin:/usr/lib/postfix/sbin")
    if found is None:
        raise PipelineUnavailable(f"{name} is not installed (Debian: apt-get install {package})")
    return found


@contextlib.contextmanager
def run_pipeline(
    *, nsd_port: int, nsd_dmarc_address: str, lmtp_port: int, domain: str, selector: str,
    private_key_pem: bytes,
) -> Iterator[Pipeline]:  # fmt: skip
    if os.geteuid() != 0:
        raise PipelineUnavailable("the Postfix pipeline needs root (Postfix and unshare)")
    binaries = {
        "master": _which("master", "postfix"),
        "opendkim": _which("opendkim", "opendkim"),
        "opendmarc": _which("opendmarc", "opendmarc"),
        "unshare": _which("unshare", "util-linux"),
    }
    root = Path(tempfile.mkdtemp(prefix="ow-mailpipe-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, True)
        root.chmod(0o755)
        submit, mx, signer, verifier, dmarc = _free_ports(5)
        _write_key(root, private_key_pem)
        (root / "unbound.conf").write_text(
            # Unbound answers test. itself (RFC 6761) unless told not to.
            'server:\n  local-zone: "test." nodefault\n  do-not-query-localhost: no\n'
            '  module-config: "iterator"\n'
            f'forward-zone:\n  name: "."\n  forward-addr: 127.0.0.1@{nsd_port}\n'
        )
        for name, text in (
            ("sign.conf", _opendkim(root, "s", signer, domain, selector)),
            ("verify.conf", _opendkim(root, "v", verifier, domain, selector)),
            ("opendmarc.conf", _opendmarc(root, dmarc)),
        ):
            (root / name).write_text(text)
        (root / "resolv.conf").write_text(f"nameserver {nsd_dmarc_address}\n")
        (root / "internal").write_text("127.0.0.1\n")
        (root / "nobody-internal").write_text("192.0.2.255\n")
        opendkim = binaries["opendkim"]
        stack.enter_context(
            _daemon([opendkim, "-f", "-x", str(root / "sign.conf")], signer, root, "sign", 1)
        )
        stack.enter_context(
            _daemon([opendkim, "-f", "-x", str(root / "verify.conf")], verifier, root, "verify", 1)
        )
        dmarc_cmd = [
            binaries["unshare"], "--mount", "sh", "-c",
            f'mount --bind "{root}/resolv.conf" /etc/resolv.conf && '
            f'exec {binaries["opendmarc"]} -f -c "{root}/opendmarc.conf"',
        ]  # fmt: skip
        stack.enter_context(_daemon(dmarc_cmd, dmarc, root, "opendmarc", 1))
        _write_postfix(root, submit, mx, lmtp_port, signer, verifier, dmarc)
        stack.enter_context(
            _daemon([binaries["master"], "-c", str(root / "etc"), "-d"], submit, root, "postfix")
        )
        yield Pipeline(submit, root)


def _write_key(root: Path, pem: bytes) -> None:
    key = root / "dkim.key"
    key.write_bytes(pem)
    key.chmod(0o600)
    user = pwd.getpwnam("opendkim")
    os.chown(key, user.pw_uid, user.pw_gid)


def _opendkim(root: Path, mode: str, port: int, domain: str, selector: str) -> str:
    internal = "internal" if mode == "s" else "nobody-internal"
    return f"""\
Syslog no
LogWhy yes
UserID opendkim
Mode {mode}
Socket inet:{port}@127.0.0.1
PidFile {root}/opendkim-{mode}.pid
Domain {domain}
Selector {selector}
KeyFile {root}/dkim.key
Canonicalization relaxed/simple
InternalHosts {root}/{internal}
AuthservID {AUTHSERV_ID}
ResolverConfiguration {root}/unbound.conf
RequireSafeKeys no
"""


def _opendmarc(root: Path, port: int) -> str:
    return f"""\
Syslog false
UserID opendmarc
Socket inet:{port}@127.0.0.1
PidFile {root}/opendmarc.pid
AuthservID {AUTHSERV_ID}
TrustedAuthservIDs {AUTHSERV_ID}
SPFSelfValidate true
SPFIgnoreResults true
IgnoreAuthenticatedClients false
IgnoreHosts {root}/nobody-internal
RejectFailures false
"""


def _write_postfix(
    root: Path, submit: int, mx: int, lmtp: int, signer: int, verifier: int, dmarc: int
) -> None:
    etc = root / "etc"
    etc.mkdir()
    postfix, postdrop = pwd.getpwnam("postfix"), _gid("postdrop")
    spool = root / "spool"
    for sub in ("", "pid"):
        (spool / sub).mkdir(exist_ok=True)
    for sub in ("private", "active", "bounce", "defer", "deferred", "flush", "hold",
                "incoming", "saved", "trace", "corrupt"):  # fmt: skip
        (spool / sub).mkdir(mode=0o700)
        os.chown(spool / sub, postfix.pw_uid, postfix.pw_gid)
    for sub, group, mode in (("maildrop", postdrop, 0o1730), ("public", postdrop, 0o2710)):
        (spool / sub).mkdir()
        os.chown(spool / sub, postfix.pw_uid, group)
        (spool / sub).chmod(mode)
    data = root / "data"
    data.mkdir()
    os.chown(data, postfix.pw_uid, postfix.pw_gid)
    (etc / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {spool}
data_directory = {data}
myhostname = {AUTHSERV_ID}
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_reject_unlisted_recipient = no
virtual_mailbox_domains = example.test
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
milter_default_action = tempfail
recipient_delimiter = +
smtputf8_enable = no
""")
    (etc / "master.cf").write_text(f"""\
127.0.0.1:{submit} inet n - n - - smtpd
  -o smtpd_milters=inet:127.0.0.1:{signer}
  -o content_filter=smtp:[127.0.0.1]:{mx}
127.0.0.1:{mx} inet n - n - - smtpd
  -o smtpd_milters=inet:127.0.0.1:{verifier},inet:127.0.0.1:{dmarc}
  -o content_filter=
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
lmtp unix - - n - - lmtp
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
""")


def _gid(group: str) -> int:
    return grp.getgrnam(group).gr_gid


@contextlib.contextmanager
def _daemon(args: list[str], port: int, root: Path, name: str, grace: float = 10) -> Iterator[None]:
    """Run one daemon in the foreground until the block ends, once ``port`` listens.
    ``grace``: how long it may take to stop (libmilter's filters take 5-10 s to notice a
    SIGTERM; a throwaway filter is killed after a second)."""
    log = root / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - fixed binaries, arguments of our own
            args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if time.monotonic() > deadline:
                raise PipelineUnavailable(f"{name} not listening on {port}\n{_tail(log)}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(timeout=0.05)
                raise PipelineUnavailable(f"{name} exited with {code}\n{_tail(log)}")
        yield
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "".join(f"  {path.name}: {line}\n" for line in text.splitlines()[-lines:])
