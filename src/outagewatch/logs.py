"""Logging set-up: one line per decision, as text or as JSON (``log_format: json``)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]}
_CONTROL.update({0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"})


def printable(text: str) -> str:
    """``text`` with every control character escaped (``\\n``, ``\\x1b``): what a client
    sent (a path, a header) can never start a log line of its own or move the terminal."""
    return text.translate(_CONTROL)


class OneLineFormatter(logging.Formatter):
    """The text format; the message of a record stays one line whatever it carries (a
    traceback, logged on purpose, still follows on lines of its own)."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        record.message = printable(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Structured fields passed with ``extra=`` (platform, service, vantage, ...).
        entry.update({k: v for k, v in vars(record).items() if k not in _RESERVED})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(fmt: Literal["text", "json"], level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Warnings (a library's about a client's malformed header, say) carry what the client
    # sent: through the formatter, kept on one line, instead of straight to stderr.
    logging.captureWarnings(True)


def hhmmss(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%SZ")
