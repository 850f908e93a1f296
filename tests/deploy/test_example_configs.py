"""config/ox-cloud.example.yaml: the three platforms of the operations agreement, valid as
shipped; the compose config differs from it only where compose needs it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from outagewatch.cli.main import main
from outagewatch.config import load_config
from tests.deploy.conftest import DEPLOY, ROOT

OX_CLOUD = ROOT / "config" / "ox-cloud.example.yaml"
COMPOSE_CONFIG = DEPLOY / "outagewatch" / "outagewatch.yaml"
# From ../shared/reference/operations-agreement.txt: (incident list, informational list).
AGREEMENT = {
    "eu-de-1": ("oxcloud-de-1-incidents@open-xchange.com", "oxcloud-de-1@open-xchange.com"),
    "us": ("oxcloud-us-incidents@open-xchange.com", "oxcloud-us@open-xchange.com"),
    "us-2": ("oxcloud-us-2-incidents@open-xchange.com", "oxcloud-us-2@open-xchange.com"),
}
ZONES = {"eu-de-1": ("Europe/Berlin", "DE"), "us": ("America/New_York", "US"),
         "us-2": ("America/New_York", "US")}  # fmt: skip
SERVICES = {"webmail": ("http", None, None), "smtp": ("smtp", 587, "starttls"),
            "imap": ("imap", 993, "implicit"), "pop3": ("pop3", 995, "implicit")}  # fmt: skip


def test_check_config_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "-c", str(OX_CLOUD)]) == 0
    assert f"{OX_CLOUD}: OK" in capsys.readouterr().out


def test_the_platforms_of_the_agreement() -> None:
    config = load_config(OX_CLOUD)
    assert set(config.platforms) == set(AGREEMENT)
    for pid, platform in config.platforms.items():
        incident, informational = AGREEMENT[pid]
        assert platform.lists.incident == [incident]
        assert platform.lists.informational == [informational]
        assert (platform.timezone, platform.holidays) == ZONES[pid]
        assert set(platform.services) == set(SERVICES)
        for sid, service in platform.services.items():
            protocol, port, tls = SERVICES[sid]
            assert service.protocol == protocol
            if port is not None:
                assert (service.port, service.tls) == (port, tls)  # type: ignore[union-attr]
                assert service.host.endswith(".example.net")  # type: ignore[union-attr]
                assert service.auth is not None and service.auth.password_env
            else:
                assert ".example.net/" in service.url  # type: ignore[union-attr]


def test_the_compose_config_differs_only_in_database_and_listen() -> None:
    ox: dict[str, Any] = yaml.safe_load(OX_CLOUD.read_text())
    compose: dict[str, Any] = yaml.safe_load(COMPOSE_CONFIG.read_text())
    assert compose.pop("database").startswith("postgresql+asyncpg://")
    assert compose.pop("api") == {"listen": "0.0.0.0:8080"}
    assert compose.pop("vantages") == ["fra", "nyc"]  # two instances share the database
    del ox["database"], ox["api"]
    assert compose == ox
    assert main(["check-config", "-c", str(COMPOSE_CONFIG)]) == 0


def test_the_second_instance_differs_only_in_its_vantage() -> None:
    first: dict[str, Any] = yaml.safe_load(COMPOSE_CONFIG.read_text())
    second_path = COMPOSE_CONFIG.with_name("outagewatch-nyc.yaml")
    second: dict[str, Any] = yaml.safe_load(second_path.read_text())
    assert (first.pop("vantage"), second.pop("vantage")) == ("fra", "nyc")
    assert first == second
    assert main(["check-config", "-c", str(second_path)]) == 0
