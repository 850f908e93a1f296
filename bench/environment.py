"""What the report says about the machine and the code it measured."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - fixed commands
            command, capture_output=True, text=True, timeout=10, cwd=ROOT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe(blackbox: str | None) -> dict[str, str]:
    revision = _run("git", "rev-parse", "--short", "HEAD")
    dirty = _run("git", "status", "--porcelain", "--", "src")
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "code": f"{revision}{' + uncommitted changes in src/' if dirty else ''}",
        "cpu": f"{cpu_model()}, {os.cpu_count()} CPUs",
        "memory": f"{memory_kb / 1024 / 1024:.0f} GiB",
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "blackbox_exporter": _run(blackbox, "--version").splitlines()[0] if blackbox else "not run",
        "load average at start": load,
    }
