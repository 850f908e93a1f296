"""Reading a Dockerfile the way BuildKit does, far enough for tests: stages and instructions."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def dockerfile_stages(text: str) -> list[Stage]:
    """Instructions per stage: comments dropped, continuation lines joined."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#"):
            continue  # also inside a continued instruction, as BuildKit reads it
        if raw.endswith("\\"):
            pending += raw[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    stages: list[Stage] = []
    for line in filter(str.strip, lines):
        keyword, _, args = line.strip().partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "ARG" and not stages:
            continue  # a global build argument (BASE_IMAGE), used in FROM lines
        if keyword == "FROM":
            base, _, name = re.sub(r"--platform=\S+\s+", "", args).partition(" AS ")
            stages.append(Stage(base.strip(), name.strip() or None))
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, args))
    return stages


def env_keys(args: str) -> list[str]:
    """The names an ENV or ARG instruction sets (``K=V K2=V2``, ``K V``, ``K``)."""
    if "=" not in args.split()[0]:
        return [args.split()[0]]
    return re.findall(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=", args)


def healthcheck_argv(stage: Stage) -> list[str]:
    """The exec-form command of the stage's HEALTHCHECK."""
    (check,) = stage.all("HEALTHCHECK")
    argv: list[str] = json.loads(check.partition("CMD ")[2])
    return argv


def env(stage: Stage) -> dict[str, str]:
    """What the stage's ENV instructions set (``K=V`` form, values without spaces)."""
    return dict(
        pair.split("=", 1) for args in stage.all("ENV") for pair in args.split() if "=" in pair
    )
