"""Durations as operators write them: ``500ms``, ``30s``, ``15m``, ``1h``, ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PATTERN = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
HINT = "must be a duration like 500ms, 30s, 15m, 1h or 1h30m"


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m``-style text; raise ValueError with a hint on anything else."""
    cleaned = text.strip()
    if not cleaned:
        raise ValueError(HINT)
    seconds = 0.0
    pos = 0
    for match in _PATTERN.finditer(cleaned):
        if match.start() != pos:
            raise ValueError(f"{HINT}, not {text!r}")
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned):
        raise ValueError(f"{HINT}, not {text!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration, shortest form first (``90s`` → ``1m30s``)."""
    ms = round(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    parts = []
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)
