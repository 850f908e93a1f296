"""Reading the YAML file and turning every problem into one ``path: message`` line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from outagewatch.config.channels import CHANNEL_TYPES
from outagewatch.config.model import Config
from outagewatch.config.services import PROTOCOLS, RoundtripService, SecretRef
from outagewatch.config.yaml_events import load_yaml


class ConfigError(Exception):
    """The config cannot be used; ``problems`` has one ``path: message`` line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_config(path: Path | str) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc.strerror}"]) from exc
    try:
        data = load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError([f"{where}: YAML syntax error: {exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: YAML error: {exc}"]) from exc
    return parse_config(data)


def parse_config(data: Any) -> Config:
    if not isinstance(data, dict):
        raise ConfigError(["(top level): must be a mapping of keys like vantage, platforms"])
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([_describe(error) for error in exc.errors()]) from None
    problems = [
        f"{path}: {message}"
        for path, message in [
            *config.rule_problems(),
            *config.vantage_problems(),
            *config.channel_problems(),
        ]
    ]
    if problems:
        raise ConfigError(problems)
    return config


def _describe(error: ErrorDetails) -> str:
    loc = [str(part) for part in error["loc"]]
    # A discriminated union puts the protocol tag into the location
    # (platforms.x.services.imap.imap.port); an operator never wrote that.
    for i in range(len(loc) - 2):  # the tag may end the path (a model-level error)
        if loc[i] == "services" and loc[i + 2] in PROTOCOLS:
            del loc[i + 2]
            break
    if len(loc) > 2 and loc[0] == "channels" and loc[2] in CHANNEL_TYPES:
        del loc[2]  # the same for a channel's type tag
    path = ".".join(loc) or "(top level)"
    return f"{path}: {_message(error)}"


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling and level; see config/outagewatch.example.yaml)"
    if kind == "missing":
        return "required"
    if kind in ("union_tag_invalid", "union_tag_not_found") and error["loc"][0] == "channels":
        return f"type must be one of {', '.join(CHANNEL_TYPES)}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"protocol must be one of {', '.join(PROTOCOLS)}"
    if kind == "string_pattern_mismatch":
        return f"{error['input']!r} does not match {error.get('ctx', {}).get('pattern')}"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message[:1].lower() + message[1:]


def read_secret(ref: SecretRef) -> str:
    """The secret a reference points at; ValueError says what is missing, never the value."""
    if ref.password_env is not None:
        value = os.environ.get(ref.password_env)
        if not value:
            raise ValueError(f"environment variable {ref.password_env} is not set")
        return value
    assert ref.password_file is not None
    try:
        return ref.password_file.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as exc:
        raise ValueError(f"cannot read {ref.password_file}: {exc.strerror}") from exc


def secret_problems(config: Config) -> list[str]:
    """Every secret the config names that cannot be read right now."""
    refs: list[tuple[str, SecretRef | None]] = []
    if config.smtp is not None:
        refs.append(("smtp", config.smtp.secret))
        refs += [(f"smtp.fallback.{i}", f.secret) for i, f in enumerate(config.smtp.fallback)]
    for pid, platform in config.platforms.items():
        for sid, service in platform.services.items():
            path = f"platforms.{pid}.services.{sid}"
            refs.append((f"{path}.auth", service.auth))
            if isinstance(service, RoundtripService):
                refs.append((f"{path}.submit.auth", service.submit.auth))
                refs.append((f"{path}.mailbox.auth", service.mailbox.auth))
    problems = []
    for path, ref in refs:
        if ref is None:
            continue
        try:
            read_secret(ref)
        except ValueError as exc:
            key = "password_env" if ref.password_env is not None else "password_file"
            problems.append(f"{path}.{key}: {exc}")
    for name, channel in config.channels.items():
        for stem, ref in channel.secrets().items():
            try:
                read_secret(ref)
            except ValueError as exc:
                key = f"{stem}_env" if ref.password_env is not None else f"{stem}_file"
                problems.append(f"channels.{name}.{key}: {exc}")
    return problems
