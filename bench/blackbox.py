"""Prometheus blackbox_exporter on the same targets: its config, its process, its CPU.

The modules walk the same transactions as outagewatch's probes, command for command: HTTP
GET with the status and the page text checked; SMTP banner, EHLO, AUTH PLAIN, NOOP, QUIT;
IMAP greeting, CAPABILITY, LOGIN, SELECT INBOX, LOGOUT; POP3 greeting, USER, PASS, STAT,
QUIT (``tcp`` prober, ``query_response``). Its measurement of a probe is the
``probe_duration_seconds`` it answers to ``/probe``.
"""

from __future__ import annotations

import base64
import functools
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench.children import die_with_parent
from bench.layout import EHLO_NAME, PASSWORD, USER, TargetSpec

BINARY_NAMES = ("prometheus-blackbox-exporter", "blackbox_exporter")
READY_TIMEOUT = 15.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def find_binary() -> str | None:
    for name in BINARY_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _tcp(steps: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "prober": "tcp",
        "timeout": "60s",
        "tcp": {"preferred_ip_protocol": "ip4", "query_response": steps},
    }


def modules() -> dict[str, Any]:
    plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    return {
        "bench_http": {
            "prober": "http",
            "timeout": "60s",
            "http": {
                "preferred_ip_protocol": "ip4",
                "valid_status_codes": [200],
                "follow_redirects": False,
                "fail_if_body_not_matches_regexp": ["OX App Suite"],
            },
        },
        "bench_smtp": _tcp(
            [
                {"expect": "^220 "},
                {"send": f"EHLO {EHLO_NAME}"},
                {"expect": "^250 "},
                {"send": f"AUTH PLAIN {plain}"},
                {"expect": "^235 "},
                {"send": "NOOP"},
                {"expect": "^250 "},
                {"send": "QUIT"},
                {"expect": "^221 "},
            ]
        ),
        "bench_imap": _tcp(
            [
                {"expect": "^\\* OK"},
                {"send": "a1 CAPABILITY"},
                {"expect": "^a1 OK"},
                {"send": f'a2 LOGIN "{USER}" "{PASSWORD}"'},
                {"expect": "^a2 OK"},
                {"send": "a3 SELECT INBOX"},
                {"expect": "^a3 OK"},
                {"send": "a4 LOGOUT"},
                {"expect": "^a4 OK"},
            ]
        ),
        "bench_pop3": _tcp(
            [
                {"expect": "^\\+OK"},
                {"send": f"USER {USER}"},
                {"expect": "^\\+OK"},
                {"send": f"PASS {PASSWORD}"},
                {"expect": "^\\+OK"},
                {"send": "STAT"},
                {"expect": "^\\+OK"},
                {"send": "QUIT"},
                {"expect": "^\\+OK"},
            ]
        ),
    }


def probe_query(target: TargetSpec) -> tuple[str, str]:
    """The module and the target of the ``/probe`` request for one benchmark target."""
    if target.protocol == "http":
        return "bench_http", target.url
    return f"bench_{target.protocol}", target.address


def read_cpu(pid: int) -> float:
    """utime + stime of a process from /proc/<pid>/stat, in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # After the command name: state is field 3, so utime (14) and stime (15) are 11 and 12.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def read_peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


class BlackboxProcess:
    """One blackbox_exporter on a free loopback port with the benchmark's modules."""

    def __init__(self, binary: str, workdir: Path, cpu: int | None) -> None:
        self.binary = binary
        self.workdir = workdir
        self.cpu = cpu
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = self.workdir / "blackbox.yml"
        config.write_text(yaml.safe_dump({"modules": modules()}, sort_keys=False))
        cpus = None if self.cpu is None else {self.cpu}
        self._process = subprocess.Popen(  # noqa: S603 - Debian's binary, our own arguments
            [
                self.binary,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "blackbox.log").open("wb"),
            # Pinned before exec, so that the Go runtime sizes GOMAXPROCS to this one CPU.
            preexec_fn=functools.partial(die_with_parent, pin_to=cpus),
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                log = (self.workdir / "blackbox.log").read_text(errors="replace")
                raise RuntimeError(f"blackbox_exporter exited: {log.strip()[-500:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/healthy", timeout=1):  # noqa: S310
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"blackbox_exporter did not answer on {self.url} in time")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
