"""What a simulated server does wrong, changeable while it runs.

A server keeps one `Faults` object and reads it when a connection is accepted and before
each reply, so a test, a benchmark or the control endpoint can change a running server.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

Hostile = Literal[
    "garbage", "long_line", "endless_line", "endless_lines", "drip", "close_mid_reply"
]
HOSTILE_MODES: tuple[Hostile, ...] = get_args(Hostile)


class FaultError(ValueError):
    """A requested fault change is invalid; `field` names the offending field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@dataclass
class Faults:
    """Faults injected by one simulated server.

    Attributes:
        greeting_delay: seconds before the greeting (HTTP: before the response headers).
        reply_delay: seconds before each reply to a command (HTTP: added to
            ``greeting_delay`` before every response).
        hang: accept connections and never say anything until the client goes away.
        bad_banner: greet with a refusal (SMTP 554, IMAP ``* BYE``, POP3 ``-ERR``, HTTP 503).
        reject_login: refuse every login, even with the right credentials.
        hostile: misbehave at the byte level instead of greeting (see `HOSTILE_MODES`):
            ``garbage`` random non-protocol bytes and a newline, then silence;
            ``long_line`` 1 MiB without a newline, then silence;
            ``endless_line`` a line that never ends (HTTP: a header value; SMTP, IMAP,
            POP3: the greeting), written as fast as the client reads;
            ``endless_lines`` lines that never end (HTTP: header lines; SMTP: a
            multi-line greeting; IMAP: untagged answers; POP3: lines after the greeting);
            ``drip`` the line that never ends, one byte every ``drip_interval`` seconds;
            ``close_mid_reply`` half a greeting, then the connection is closed.
        drip_interval: seconds between two bytes in ``drip`` mode (tests shorten it).

    ``hang`` and ``hostile`` apply to connections accepted after the change; delays and
    the other flags are read at every reply, so they also affect open connections.
    """

    greeting_delay: float = 0.0
    reply_delay: float = 0.0
    hang: bool = False
    bad_banner: bool = False
    reject_login: bool = False
    hostile: Hostile | None = None
    drip_interval: float = 1.0

    def update(self, changes: Mapping[str, object]) -> None:
        """Apply changes given as JSON-like values: all of them or, on a bad one, none.

        Raises `FaultError` naming the first unknown field or invalid value.
        """
        checked = {name: _check(name, value) for name, value in changes.items()}
        for name, value in checked.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def _seconds(field: str, value: object) -> float:
    # bool is an int to Python, but `"reply_delay": true` is a mistake, not one second.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultError(field, f"must be a number of seconds, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise FaultError(field, f"must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _flag(field: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise FaultError(field, f"must be true or false, got {value!r}")
    return value


def _hostile(field: str, value: object) -> Hostile | None:
    for mode in HOSTILE_MODES:
        if value == mode:
            return mode
    if value is None:
        return None
    raise FaultError(field, f"must be null or one of {', '.join(HOSTILE_MODES)}; got {value!r}")


_CHECKS: dict[str, Callable[[str, object], object]] = {
    "greeting_delay": _seconds,
    "reply_delay": _seconds,
    "hang": _flag,
    "bad_banner": _flag,
    "reject_login": _flag,
    "hostile": _hostile,
    "drip_interval": _seconds,
}


def _check(field: str, value: object) -> object:
    check = _CHECKS.get(field)
    if check is None:
        raise FaultError(field, f"unknown fault; known faults are {', '.join(_CHECKS)}")
    return check(field, value)
