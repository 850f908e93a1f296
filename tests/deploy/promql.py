"""The metric names a PromQL expression reads, without a PromQL parser.

Good enough for the expressions of deploy/: strip what cannot be a metric name (strings,
label matchers, ranges, grouping label lists), then every identifier that is not a keyword
and not called like a function is a metric name.
"""

from __future__ import annotations

import re

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w$.])([A-Za-z_:][\w:]*)\b(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
             "group_left", "group_right", "inf", "nan", "atan2"}  # fmt: skip


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    return {name for name in _IDENT.findall(text) if name.lower() not in _KEYWORDS}


def series_names(exposition: str) -> tuple[set[str], set[str]]:
    """The series names a /metrics page declares (from its # TYPE lines) and those it has
    samples of. A histogram ``h`` declares ``h_bucket``, ``h_sum`` and ``h_count``, not ``h``;
    prometheus_client already prints a counter's TYPE line with its ``_total`` name."""
    declared: set[str] = set()
    sampled: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            if kind == "histogram":
                declared |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            elif kind == "counter":
                declared.add(name if name.endswith("_total") else f"{name}_total")
            else:
                declared.add(name)
        elif line and not line.startswith("#"):
            sampled.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return declared, sampled
