"""A daemon's process tree from /proc: its probe workers are children of its fork server,
which is a child of the daemon, and their CPU is the daemon's CPU."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):  # a thread that ended as we looked
            found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it."""
    found = {pid}
    for child in children(pid):
        with contextlib.suppress(OSError):  # a child that exited as we looked
            found |= descendants(child)
    return found


def cpu_seconds(pid: int) -> float:
    """User and system time of one process (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and every process below it, by pid."""
    found = {}
    for process in descendants(pid):
        with contextlib.suppress(OSError):
            found[process] = cpu_seconds(process)
    return found


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """The tree's CPU between two readings; a process that started between them counts whole."""
    return sum(seconds - before.get(process, 0.0) for process, seconds in after.items())
