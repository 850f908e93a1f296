"""The config file of the deployed daemon (`outagewatch run`) for a benchmark stage: the
targets as services of one platform, probed every ``interval``, the API on a loopback port,
SQLite in the stage's folder, no relay (no mail leaves the machine); the public status page
on that port when asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bench.layout import EHLO_NAME, HOST, PASSWORD_ENV, USER, TargetSpec

PLATFORM = "bench"
VANTAGE = "bench"
PUBLIC_URL = "https://status.bench.invalid"


def service_of(spec: TargetSpec) -> dict[str, Any]:
    if spec.protocol == "http":
        return {"protocol": "http", "url": spec.url, "expect_body": "OX App Suite"}
    service: dict[str, Any] = {
        "protocol": spec.protocol,
        "host": HOST,
        "port": spec.port,
        "auth": {"username": USER, "password_env": PASSWORD_ENV},
    }
    if spec.protocol == "smtp":
        service["ehlo_name"] = EHLO_NAME
    return service


def write_config(
    targets: list[TargetSpec],
    *,
    interval: float,
    port: int,
    folder: Path,
    probe_workers: str | None = None,
    status_page: bool = False,
) -> Path:
    config: dict[str, Any] = {
        "vantage": VANTAGE,
        "database": f"sqlite+aiosqlite:///{folder / 'outagewatch.db'}",
        "api": {"listen": f"127.0.0.1:{port}"},
        "rules": {"probe_interval": f"{int(interval * 1000)}ms"},
        "platforms": {
            PLATFORM: {
                "name": "Benchmark platform",
                "lists": {
                    "incident": ["incidents@bench.invalid"],
                    "informational": ["news@bench.invalid"],
                },
                "services": {spec.name: service_of(spec) for spec in targets},
            }
        },
    }
    if status_page:
        config["web"] = {"status_page": True, "public_url": PUBLIC_URL}
    if probe_workers is not None:
        config["probe_workers"] = "auto" if probe_workers == "auto" else int(probe_workers)
    path = folder / "outagewatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
