"""deploy/ against a running daemon: a subprocess that has probed a sim/ server into an
outage and delivered its mails through a sim/ relay, so that labelled series have samples.

* Every metric the dashboard, the alerts and their unit tests read is one it exports.
* The health checks of the image and of compose pass against it, and fail without it.
* It stops with exit status 0 on SIGTERM, the stop signal of the unit and the image."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from outagewatch.sim import HttpServer, SmtpServer
from tests.daemon.test_daemon_e2e import free_port
from tests.deploy import dashboard
from tests.deploy.conftest import DEPLOY, PROMETHEUS, ROOT
from tests.deploy.dockerfile import dockerfile_stages, healthcheck_argv
from tests.deploy.promql import metric_names, series_names

# Series Prometheus makes itself for every target.
SYNTHETIC = {"up"}


def has_mailed(exposition: str) -> bool:
    """The daemon has probed, declared an outage and delivered a mail: every counter and
    gauge deploy/ reads has moved. The kinds and results exist at 0 from start-up, so the
    mere presence of a "sent" series says nothing; its value must be above zero."""
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if (
                sample.name == "outagewatch_notifications_total"
                and sample.labels.get("result") == "sent"
            ):
                values["sent"] = values.get("sent", 0.0) + sample.value
            elif sample.name == "outagewatch_probes_total":
                values["probes"] = values.get("probes", 0.0) + sample.value
            elif sample.name == "outagewatch_service_outage":
                values["outage"] = max(values.get("outage", 0.0), sample.value)
    return all(values.get(key, 0.0) > 0 for key in ("sent", "probes", "outage"))


# Series that exist only while they are 1 (no maintenance runs here; the maintenance e2e test
# sees this one at 1).
ONLY_WHILE_TRUE = {"outagewatch_service_in_maintenance"}


def used_by_deploy() -> dict[str, set[str]]:
    """Metric name -> where deploy/ uses it."""
    used: dict[str, set[str]] = {}

    def add(where: str, expr: str) -> None:
        for name in metric_names(expr):
            used.setdefault(name, set()).add(where)

    for where, expr in dashboard.queries(dashboard.load()):
        if expr.startswith("label_values("):  # label_values(METRIC, LABEL)
            expr = expr.removeprefix("label_values(").split(",", 1)[0]
        add(f"dashboard {where}", expr)
    for name in ("rules.yml", "slo_rules.yml"):
        for group in yaml.safe_load((PROMETHEUS / name).read_text())["groups"]:
            for rule in group["rules"]:
                add(f"{name} {rule.get('alert') or rule['record']}", rule["expr"])
    # The unit tests must feed the rules series the daemon really has, or they prove nothing.
    for name in ("rules_test.yml", "slo_rules_test.yml"):
        for test in yaml.safe_load((PROMETHEUS / name).read_text())["tests"]:
            for series in test["input_series"]:
                add(f"{name} {test['name']}", series["series"])
    return {name: where for name, where in used.items() if name not in recorded()}


def recorded() -> set[str]:
    """The series the rules record themselves (the SLO ratios and budgets)."""
    groups = yaml.safe_load((PROMETHEUS / "slo_rules.yml").read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


@dataclass(frozen=True)
class Live:
    port: int
    metrics: str  # /metrics once the daemon has probed, declared an outage and sent mail


@pytest.fixture
async def live(tmp_path: Path, server_tls: ssl.SSLContext, ca_file: str) -> AsyncIterator[Live]:
    """A daemon subprocess that has probed, declared an outage and sent its mails."""
    port = free_port()
    config = {
        "vantage": "test",
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{port}"},
        "metrics": {"phases": True},  # the dashboard's phase panel reads them
        "oncall": {"email": "oncall@example.net"},
        "rules": {"slow_after": "1s", "outage_after": "1s", "probe_interval": "250ms",
                  "probe_timeout": "2s"},
        "outbox": {"send_timeout": "2s", "lease": "10s", "retry_base": "1s", "retry_cap": "2s"},
        "platforms": {
            "eu-de-1": {
                "name": "OX Cloud EU de-1",
                "lists": {"incident": ["i@example.net"], "informational": ["n@example.net"]},
                "services": {"webmail": {"protocol": "http", "url": "PLACEHOLDER"}},
            }
        },
    }  # fmt: skip
    # An https service too, so that the certificate series exist.
    secure = HttpServer(tls="implicit", ssl_context=server_tls)
    async with HttpServer() as web, SmtpServer() as relay, secure:
        web.faults.bad_banner = True  # 503 from the start: an outage after outage_after
        config["platforms"]["eu-de-1"]["services"]["webmail-tls"] = {  # type: ignore[index]
            "protocol": "http", "url": secure.url, "ca_file": ca_file,
        }  # fmt: skip
        config["smtp"] = {"host": relay.host, "port": relay.port, "tls": "none",
                          "from": "OX Cloud Operations <noc@example.net>"}  # fmt: skip
        config["platforms"]["eu-de-1"]["services"]["webmail"]["url"] = web.url  # type: ignore[index]
        path = tmp_path / "ow.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "outagewatch", "run", "-c", str(path),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with aiohttp.ClientSession() as session, asyncio.timeout(25):
                text = ""
                while not has_mailed(text):
                    await asyncio.sleep(0.1)  # another process: polling is all there is
                    try:
                        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
                            text = await response.text()
                    except aiohttp.ClientError:
                        continue  # not listening yet
            yield Live(port, text)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), timeout=20)
            print(err.decode(), file=sys.stderr)  # the daemon's log, shown when a test fails
        # SIGTERM is the stop signal of the systemd unit and the image: it must stop cleanly.
        assert proc.returncode == 0


async def test_deploy_reads_only_metrics_the_daemon_exports(live: Live) -> None:
    declared, sampled = series_names(live.metrics)
    used = used_by_deploy()
    # The extraction works at all, and DESIGN's metrics that matter most at 3 a.m. are used.
    assert {"outagewatch_probe_duration_seconds_bucket", "outagewatch_incidents_open",
            "outagewatch_service_outage", "outagewatch_outbox_pending"} <= set(used)  # fmt: skip
    unknown = {name: sorted(where) for name, where in used.items()
               if name not in declared | SYNTHETIC}  # fmt: skip
    assert not unknown, f"not exported by the daemon: {unknown}"
    # And they have samples once the daemon has probed and mailed, labels and all.
    silent = {name: sorted(where) for name, where in used.items()
              if name not in sampled | SYNTHETIC | ONLY_WHILE_TRUE}  # fmt: skip
    assert not silent, f"exported but without samples: {silent}"


def health_commands(port: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    """The health checks of the image and of compose, aimed at ``port`` instead of 8080."""
    runtime = dockerfile_stages((ROOT / "Dockerfile").read_text())[-1]
    url = f"http://127.0.0.1:{port}/healthz"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    _, *argv = compose["services"]["outagewatch"]["healthcheck"]["test"]  # "CMD", argv...
    return {
        "Dockerfile": (healthcheck_argv(runtime), {"OUTAGEWATCH_HEALTHZ_URL": url}),
        "compose": ([a.replace("127.0.0.1:8080", f"127.0.0.1:{port}") for a in argv], {}),
    }


def run_check(argv: list[str], extra_env: dict[str, str]) -> int:
    # "python" is the image's; here it is this venv's.
    command = [sys.executable if argv[0] == "python" else argv[0], *argv[1:]]
    env = {**os.environ, **extra_env}
    done = subprocess.run(  # noqa: S603 - the commands of deploy/, run as they are
        command, env=env, capture_output=True, timeout=20, check=False
    )
    return done.returncode


async def test_health_checks_pass_against_the_daemon(live: Live) -> None:
    for where, (argv, extra_env) in health_commands(live.port).items():
        assert await asyncio.to_thread(run_check, argv, extra_env) == 0, where


def test_health_checks_fail_when_nothing_listens() -> None:
    for where, (argv, extra_env) in health_commands(free_port()).items():
        assert run_check(argv, extra_env) != 0, where
