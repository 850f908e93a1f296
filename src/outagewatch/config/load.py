"""Reading the YAML file and turning every problem into one ``path: message`` line."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from outagewatch.config.channels import CHANNEL_TYPES, SECRET_MIN_LENGTH
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


def read_secret(ref: SecretRef, min_length: int = 1) -> str:
    """The secret a reference points at; ValueError says what is wrong, never the value.

    Empty is refused from a file as from the environment: an empty signing secret or
    callback token would let anyone sign or present it."""
    if ref.password_env is not None:
        value = os.environ.get(ref.password_env)
        if value is None:
            raise ValueError(f"environment variable {ref.password_env} is not set")
        if not value:
            raise ValueError(f"environment variable {ref.password_env} is empty")
        where = f"environment variable {ref.password_env}"
    else:
        assert ref.password_file is not None
        try:
            value = ref.password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
            raise ValueError(f"cannot read {ref.password_file}: {reason}") from exc
        if not value:
            raise ValueError(f"{ref.password_file} is empty")
        where = str(ref.password_file)
    if len(value) < min_length:
        raise ValueError(
            f"{where} holds {len(value)} characters; this secret needs at least {min_length}"
            " (make one with: openssl rand -hex 32)"
        )
    return value


def secret_file_warnings(config: Config) -> list[str]:
    """Secret files that users other than the owner may read: each one a ``path: message``."""
    warnings = []
    for path, ref, _ in _secret_refs(config):
        file = ref.password_file
        if file is None:
            continue
        try:
            mode = file.stat().st_mode
        except OSError:
            continue  # secret_problems says it cannot be read
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.append(
                f"{path}: {file} is readable by its group or by others (mode"
                f" {stat.S_IMODE(mode):04o}); make it 0600, owned by the daemon's user"
            )
    return warnings


def _secret_refs(config: Config) -> list[tuple[str, SecretRef, int]]:
    """Every secret the config names: the config key naming it, where it is, its least
    length."""
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
    found = []
    for path, ref in refs:
        if ref is not None:
            key = "password_env" if ref.password_env is not None else "password_file"
            found.append((f"{path}.{key}", ref, 1))
    for name, channel in config.channels.items():
        for stem, ref in channel.secrets().items():
            key = f"{stem}_env" if ref.password_env is not None else f"{stem}_file"
            found.append((f"channels.{name}.{key}", ref, SECRET_MIN_LENGTH.get(stem, 1)))
    return found


def secret_problems(config: Config) -> list[str]:
    """Every secret the config names that cannot be read right now, or is too short."""
    problems = []
    for path, ref, min_length in _secret_refs(config):
        try:
            read_secret(ref, min_length)
        except ValueError as exc:
            problems.append(f"{path}: {exc}")
    return problems
