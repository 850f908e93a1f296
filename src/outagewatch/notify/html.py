"""The HTML alternative of a mail, made from its plain text so the two never disagree:
paragraphs, bullet lists, and the ``Name:   value`` facts block as a table."""

from __future__ import annotations

import html
import re

_FACT = re.compile(r"^([A-Z][A-Za-z ]{1,30}):\s+(.*)$")
_MORE = re.compile(r"^\s{4,}(\S.*)$")  # a fact's continuation line ("       until  …")


def to_html(text: str) -> str:
    blocks: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if all(_FACT.match(line) or _MORE.match(line) for line in lines):
            blocks.append(_table(lines))
        elif all(line.startswith("* ") for line in lines):
            items = "".join(f"<li>{html.escape(line[2:])}</li>" for line in lines)
            blocks.append(f"<ul>{items}</ul>")
        else:
            blocks.append("<p>" + "<br>\n".join(html.escape(line) for line in lines) + "</p>")
    body = "\n".join(blocks)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>'
        f'<body style="font-family: sans-serif">\n{body}\n</body></html>\n'
    )


def _table(lines: list[str]) -> str:
    rows: list[list[str]] = []
    for line in lines:
        fact = _FACT.match(line)
        if fact:
            rows.append([fact.group(1), fact.group(2)])
        elif rows and (more := _MORE.match(line)):
            rows[-1][1] += " " + " ".join(more.group(1).split())
    cells = "".join(
        f'<tr><th style="text-align:left;padding-right:1em">{html.escape(name)}</th>'
        f"<td>{html.escape(value)}</td></tr>"
        for name, value in rows
    )
    return f"<table>{cells}</table>"
