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


def cpu_ticks() -> dict[str, tuple[int, int]]:
    """Per CPU (``cpu0``, ``cpu1``, ...): (steal, all) in USER_HZ ticks from /proc/stat. Steal
    is time the hypervisor ran another guest on this CPU: a probe in flight then waits,
    whatever the tool does, so tail figures of a run with steal say more about the host."""
    found: dict[str, tuple[int, int]] = {}
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name != "cpu" and len(fields) >= 8:
            ticks = [int(f) for f in fields]
            found[name] = (ticks[7], sum(ticks[:8]))
    return found


def steal_between(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> str:
    shares = []
    for name, (steal, total) in after.items():
        if name in before and total > before[name][1]:
            stolen = (steal - before[name][0]) / (total - before[name][1])
            shares.append(f"{name} {stolen:.1%}")
    return ", ".join(shares) or "unknown"
