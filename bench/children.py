"""A bench's children end with it, however it ends.

A bench run stopped with ``kill`` skipped its ``finally`` blocks (SIGTERM's default action ends
the interpreter without unwinding) and left its 10,000-service daemon and simulator loading the
host for two hours, under every measurement that came after. Two guards: SIGTERM unwinds like
Ctrl-C, so each ``finally`` stops what it started; and on Linux each child asks the kernel for
SIGTERM when its parent dies, which also covers SIGKILL and a crash.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from types import FrameType

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(pin_to: set[int] | None = None) -> None:
    """A ``preexec_fn``: this child gets SIGTERM when the thread that started it ends.

    Every bench child is started from the main thread, so that is when the bench ends.
    ``pin_to`` also pins the child to those CPUs before it runs.
    """
    if pin_to is not None:
        os.sched_setaffinity(0, pin_to)
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request took hold
        os.kill(os.getpid(), signal.SIGTERM)


def unwind_on_sigterm() -> None:
    """SIGTERM raises SystemExit in the main thread, so every ``finally`` runs."""

    def _exit(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
