"""The Dockerfile, the compose file and the systemd unit, read as their tools read them
(no docker engine here: the image is never built by the suite)."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.deploy.conftest import DEPLOY, ROOT
from tests.deploy.dockerfile import Stage, dockerfile_stages, env, env_keys, healthcheck_argv

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|PRIVATE|API_?KEY", re.I)
CONFIG = "/etc/outagewatch/outagewatch.yaml"


# --- Dockerfile --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return dockerfile_stages((ROOT / "Dockerfile").read_text())


def test_multi_stage_build_into_slim_runtime(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    builder, runtime = stages[0], stages[-1]
    assert builder.name == "builder"
    assert any("pip install ." in run for run in builder.all("RUN"))
    assert any("venv" in run for run in builder.all("RUN"))
    # Both stages on the build argument, python:3.11-slim unless told otherwise.
    assert builder.base == runtime.base == "${BASE_IMAGE}"
    assert "ARG BASE_IMAGE=python:3.11-slim" in (ROOT / "Dockerfile").read_text().splitlines()
    copied = runtime.all("COPY")
    assert any(c.startswith("--from=builder ") for c in copied)
    assert not [c for c in copied if not c.startswith("--from=")], "runtime copies the context"


def test_runtime_runs_as_non_root(stages: list[Stage]) -> None:
    users = stages[-1].all("USER")
    assert users, "no USER in the runtime stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_entrypoint_command_port_volumes(stages: list[Stage]) -> None:
    runtime = stages[-1]
    assert json.loads(runtime.all("ENTRYPOINT")[-1]) == ["outagewatch"]
    assert json.loads(runtime.all("CMD")[-1]) == ["run", "-c", CONFIG]
    assert runtime.all("EXPOSE") == ["8080"]
    volumes = {v for args in runtime.all("VOLUME") for v in json.loads(args)}
    assert volumes == {"/etc/outagewatch", "/var/lib/outagewatch"}
    assert runtime.all("STOPSIGNAL") in ([], ["SIGTERM"])


def test_healthcheck_asks_healthz_with_python(stages: list[Stage]) -> None:
    """Its options here; tests/deploy/test_metrics_live.py runs the command against a daemon."""
    (check,) = stages[-1].all("HEALTHCHECK")
    assert "--interval=" in check and "--timeout=" in check
    argv = healthcheck_argv(stages[-1])
    assert argv[:2] == ["python", "-c"] and "urllib" in argv[2]  # python:slim has no curl
    assert env(stages[-1])["OUTAGEWATCH_HEALTHZ_URL"] == "http://127.0.0.1:8080/healthz"


def test_no_secret_in_any_layer(stages: list[Stage]) -> None:
    for stage in stages:
        for keyword, args in stage.instructions:
            if keyword in ("ENV", "ARG"):
                leaked = [k for k in env_keys(args) if SECRET_NAME.search(k)]
                assert not leaked, f"{keyword} {args}"
            if keyword in ("COPY", "ADD"):
                assert not re.search(r"\.env\b|secret|\.pem|\.key\b", args), f"{keyword} {args}"


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip
    assert patterns[0] == "*", "everything is excluded first, then what the image needs"
    assert {"!pyproject.toml", "!README.md", "!LICENSE", "!src/"} <= set(patterns)
    assert {"**/.env", "**/*.env", "**/*.db"} <= set(patterns)
    # Everything the Dockerfile copies from the context is let in.
    for args in (ROOT / "Dockerfile").read_text().splitlines():
        if args.startswith("COPY ") and "--from=" not in args:
            for source in args.split()[1:-1]:
                assert f"!{source.rstrip('/')}" in {p.rstrip("/") for p in patterns}, source


# --- compose -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_compose_services_with_healthchecks_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"outagewatch", "outagewatch-nyc", "postgres", "prometheus", "grafana"}
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        assert service.get("restart") == "unless-stopped", name
    named = set(compose["volumes"])
    for name in ("postgres", "prometheus", "grafana"):
        mounts = [v.split(":")[0] for v in services[name]["volumes"]]
        assert any(m in named for m in mounts), f"{name} keeps its data in no named volume"
    for instance in ("outagewatch", "outagewatch-nyc"):
        assert services[instance]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["outagewatch"]["build"]["context"] == ".."


def test_compose_bind_mounts_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source}"


def test_compose_passwords_come_from_the_env_file(compose: dict[str, Any]) -> None:
    example = env_file(DEPLOY / ".env.example")
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                match = re.fullmatch(r"\$\{([A-Z0-9_]+):\?[^}]*\}", str(value))
                assert match, f"{name}: {key} is not taken from deploy/.env"
                assert match.group(1) in example, f"{match.group(1)} missing in .env.example"
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


def test_compose_outagewatch_uses_the_postgres_service(compose: dict[str, Any]) -> None:
    service = compose["services"]["outagewatch"]
    (mount,) = [v for v in service["volumes"] if v.split(":")[1] == CONFIG]
    config = yaml.safe_load((DEPLOY / mount.split(":")[0]).read_text())
    url = make_url(config["database"])
    postgres = compose["services"]["postgres"]["environment"]
    assert (url.drivername, url.host, url.database) == (
        "postgresql+asyncpg", "postgres", postgres["POSTGRES_DB"]
    )  # fmt: skip
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password is None  # asyncpg reads PGPASSWORD: no secret in the config file
    assert service["environment"]["PGPASSWORD"] == postgres["POSTGRES_PASSWORD"]
    assert config["api"]["listen"] == "0.0.0.0:8080"  # reachable by Prometheus
    assert "outagewatch:8080" in (DEPLOY / "prometheus" / "scrape.yml").read_text()


# --- systemd -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def unit() -> configparser.ConfigParser:
    # systemd allows a key twice (SystemCallFilter=): strict=False keeps the last.
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / "outagewatch.service")
    return parser


def test_systemd_unit_hardening(unit: configparser.ConfigParser) -> None:
    service = unit["Service"]
    assert service.get("DynamicUser") == "yes" or service.get("User") == "outagewatch"
    expected = {
        "StateDirectory": "outagewatch",
        "ProtectSystem": "strict",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "Restart": "on-failure",
        "KillSignal": "SIGTERM",
        "EnvironmentFile": "-/etc/outagewatch/secrets.env",
    }
    assert {key: service.get(key) for key in expected} == expected
    assert service["RestartSec"]
    assert service["ExecStart"].endswith(f"/bin/outagewatch run -c {CONFIG}")
    # SIGHUP re-reads the config (daemon/reload.py, tests/daemon/test_reload.py).
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_secrets_file_names_every_secret_of_the_ox_cloud_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from outagewatch.cli.main import main

    for name, value in env_file(DEPLOY / "systemd" / "secrets.env.example").items():
        monkeypatch.setenv(name, value)
    assert (
        main(["check-config", "--secrets", "-c", str(ROOT / "config/ox-cloud.example.yaml")]) == 0
    )


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """systemd's own check, where it exists (it is not required). ExecStart must name an
    existing program: this venv's outagewatch stands in for /opt/outagewatch."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = (DEPLOY / "systemd" / "outagewatch.service").read_text()
    here = Path(sys.executable).parent / "outagewatch"
    copy = tmp_path / "outagewatch.service"
    copy.write_text(text.replace("/opt/outagewatch/bin/outagewatch", str(here)))
    done = subprocess.run(  # noqa: S603 - systemd-analyze, arguments of our own
        [analyze, "verify", "--man=no", str(copy)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def env_file(path: Path) -> dict[str, str]:
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep and name == name.strip() and " " not in name, line
            pairs[name] = value
    return pairs


def password_envs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["password_env"]} if "password_env" in node else set()
        return found.union(*(password_envs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(password_envs(v) for v in node))
    return set()


def test_compose_hands_outagewatch_every_secret_its_config_names(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DEPLOY / "outagewatch" / "outagewatch.yaml").read_text())
    names = password_envs(config)
    assert "OUTAGEWATCH_SMTP_PASSWORD" in names
    assert names <= set(compose["services"]["outagewatch"]["environment"])
