"""Config reload of a running daemon (a subprocess, as operators run it) by SIGHUP and by
``POST /-/reload``: new services probed within one interval, changed rules applied from then
on, open incidents kept; a broken file refused with the running config kept; a removed
service's outage ended as "no longer monitored", never as a recovery."""

from __future__ import annotations

import asyncio
import copy
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from outagewatch.sim import HttpServer, SmtpServer
from tests.daemon.test_daemon_e2e import Daemon, free_port, metric

pytestmark = pytest.mark.timeout(120)
INTERVAL = 0.5  # probe_interval, seconds
LIST = "incidents-de-1@example.net"
NEW_LIST = "incidents-de-1-new@example.net"
OK = "outagewatch_config_last_reload_successful "
AT = "outagewatch_config_last_reload_success_timestamp_seconds "


def success(service: str) -> str:
    return f'outagewatch_probe_success{{platform="eu-de-1",protocol="http",service="{service}"'


@dataclass
class World:
    daemon: Daemon
    path: Path
    db: Path
    config: dict[str, Any]
    url: str
    token: str
    sink: SmtpServer
    sims: dict[str, HttpServer]
    session: aiohttp.ClientSession

    def write(self, change: dict[str, Any] | None = None, text: str | None = None) -> None:
        if text is None:
            self.config = copy.deepcopy(self.config) | (change or {})
            text = yaml.safe_dump(self.config)
        self.path.write_text(text)

    @property
    def platform(self) -> dict[str, Any]:
        platform: dict[str, Any] = self.config["platforms"]["eu-de-1"]
        return platform

    async def value(self, prefix: str) -> float | None:
        return await metric(self.session, f"{self.url}/metrics", prefix)

    async def wait_value(self, prefix: str, good: Any, within: float = 30) -> float:
        async with asyncio.timeout(within):
            while True:
                found = await self.value(prefix)
                if found is not None and good(found):
                    return found
                await asyncio.sleep(0.05)

    async def api(self, method: str, path: str) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.request(method, f"{self.url}{path}", headers=headers) as response:
            return response.status, await response.json(content_type=None)

    async def reload(self, how: str) -> None:
        """Reload and wait until the daemon says it did (the success timestamp moves on)."""
        before = await self.value(AT)
        assert before is not None
        if how == "sighup":
            assert self.daemon.proc is not None
            self.daemon.proc.send_signal(signal.SIGHUP)
        else:
            status, body = await self.api("POST", "/-/reload")
            assert status == 200, body
        await self.wait_value(AT, lambda at: at > before)
        assert await self.value(OK) == 1

    def mails(self, kind: str, ref: str = "") -> list[tuple[tuple[str, ...], Any]]:
        """Customer mails of one kind (of one incident, by the reference in its Message-ID)."""
        found = []
        for received in self.sink.messages:
            mail = message_from_bytes(received.data, policy=policy.default)
            customer = received.rcpt_tos != ("oncall@example.net",)
            said = str(mail["Subject"]).rsplit(" — ", 1)[1]  # "detected", "update 3", ...
            ours = str(mail["Message-ID"]).startswith(f"<{ref}")
            if customer and ours and said.split()[0] == kind:
                found.append((received.rcpt_tos, mail))
        return found

    async def wait_mail(self, kind: str, ref: str = "", within: float = 30) -> None:
        async with asyncio.timeout(within):
            while not self.mails(kind, ref):  # noqa: ASYNC110 - filled by the sink
                await asyncio.sleep(0.05)

    def first_sample(self, service: str) -> float:
        with sqlite3.connect(self.db) as conn:
            (first,) = conn.execute(  # compact samples: epoch ms, series by id (store/series.py)
                "SELECT min(s.started_at) FROM samples s JOIN series r ON r.id = s.series_id"
                " WHERE r.service = ?",
                (service,),
            ).fetchone()
        return int(first) / 1000


def http(url: str) -> dict[str, str]:
    return {"protocol": "http", "url": url}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async with (
        HttpServer() as webmail, HttpServer() as calendar, HttpServer() as portal,
        SmtpServer() as sink, aiohttp.ClientSession() as session,
    ):  # fmt: skip
        port = free_port()
        config: dict[str, Any] = {
            "vantage": "fra",
            "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
            "api": {"listen": f"127.0.0.1:{port}"},
            "smtp": {"host": "127.0.0.1", "port": sink.port, "tls": "none",
                     "from": "noc@example.net"},
            "oncall": {"email": "oncall@example.net"},
            "outbox": {"send_timeout": "1s", "lease": "3s", "retry_base": "200ms",
                       "retry_cap": "1s"},
            "rules": {
                "slow_after": "1s", "outage_after": "2s", "probe_interval": "500ms",
                "probe_timeout": "3s", "max_gap": "10s", "update_every": "1h",
                "oncall_repeat": "1h",
            },
            "platforms": {
                "eu-de-1": {
                    "name": "OX Cloud EU de-1",
                    "lists": {"incident": [LIST], "informational": ["announce@example.net"]},
                    "services": {"webmail": http(webmail.url), "portal": http(portal.url)},
                }
            },
        }  # fmt: skip
        path = tmp_path / "ow.yaml"
        path.write_text(yaml.safe_dump(config))
        made = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "outagewatch", "token", "create", "--name", "root",
            "--role", "admin", "-c", str(path), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(made.communicate(), 60)
        assert made.returncode == 0
        token = out.decode().strip().splitlines()[0].strip()
        daemon = Daemon(path)
        await daemon.start()
        sims = {"webmail": webmail, "calendar": calendar, "portal": portal}
        found = World(daemon, path, tmp_path / "ow.db", config, f"http://127.0.0.1:{port}",
                      token, sink, sims, session)  # fmt: skip
        try:
            # Start-up (migrations included) on a loaded machine can take a while.
            await found.wait_value(OK, lambda ok: ok == 1, within=60)
            yield found
        finally:
            if daemon.proc is not None and daemon.proc.returncode is None:
                await daemon.stop(signal.SIGKILL)


async def open_incident(world: World) -> dict[str, Any]:
    world.sims["webmail"].faults.greeting_delay = 1.5  # slower than slow_after
    await world.wait_mail("detected")
    status, body = await world.api("GET", "/api/v1/incidents")
    assert status == 200
    (incident,) = body["items"]
    return dict(incident)


@pytest.mark.parametrize("how", ["sighup", "api"])
async def test_reload_adds_a_service_and_changes_a_rule_keeping_the_incident(
    world: World, how: str
) -> None:
    incident = await open_incident(world)
    portal = world.sims["portal"]
    portal.faults.greeting_delay = 0.7  # good under slow_after 1s, bad under 500ms
    await world.wait_value(success("portal"), lambda ok: ok == 1)

    services = dict(world.platform["services"], calendar=http(world.sims["calendar"].url))
    portal_rules = {"rules": {"slow_after": "500ms"}}
    services["portal"] = dict(services["portal"], **portal_rules)
    platform = dict(world.platform, services=services)
    platform["lists"] = dict(platform["lists"], incident=[NEW_LIST])
    world.write({"platforms": {"eu-de-1": platform}})
    await world.reload(how)
    reloaded_at = await world.value(AT)
    assert reloaded_at is not None

    # The new service is probed within one interval of the reload.
    await world.wait_value(success("calendar"), lambda ok: ok == 1)
    assert world.first_sample("calendar") - reloaded_at <= INTERVAL
    # The changed rule applies from now on: the same answers are now too slow.
    await world.wait_value(success("portal"), lambda ok: ok == 0)
    # The open incident is the same one, still open, announced once; the changed list
    # receives the next mail.
    _, body = await world.api("GET", "/api/v1/incidents")
    (still,) = body["items"]
    assert (still["id"], still["ref"], still["state"]) == (incident["id"], incident["ref"], "open")
    # Everything good again (portal, too slow now, may have joined the incident meanwhile).
    portal.faults.greeting_delay = 0
    world.sims["webmail"].faults.greeting_delay = 0
    await world.wait_mail("restored", incident["ref"])
    assert len(world.mails("detected", incident["ref"])) == 1
    ((rcpt, _),) = world.mails("restored", incident["ref"])
    assert rcpt == (NEW_LIST,)
    assert await world.daemon.stop() == 0


async def test_a_broken_file_is_refused_and_the_running_config_stays(world: World) -> None:
    good_text = world.path.read_text()
    world.write(text=good_text.replace("slow_after: 1s", "slow_after: soon") + "colour: blue\n")
    problems = [
        "rules.slow_after: must be a duration like 500ms, 30s, 15m, 1h or 1h30m, not 'soon'",
        "colour: unknown key (check its spelling and level; see config/outagewatch.example.yaml)",
    ]
    world.daemon.proc.send_signal(signal.SIGHUP)  # type: ignore[union-attr]
    await world.wait_value(OK, lambda ok: ok == 0)
    status, body = await world.api("POST", "/-/reload")
    assert status == 422 and body["errors"] == problems
    # An api.listen change needs a restart: refused with that message.
    listen = dict(world.config["api"], listen=f"127.0.0.1:{free_port()}")
    world.write({"api": listen})
    status, body = await world.api("POST", "/-/reload")
    restart = (
        "api.listen: changed in the file, but a change of api.listen needs a restart"
        " (the running daemon keeps the old value)"
    )
    assert status == 422 and body["errors"] == [restart]
    # The running config stays: the services are still probed, on the old address.
    probes = (
        'outagewatch_probes_total{platform="eu-de-1",protocol="http",result="ok",service="portal"'
    )
    # Counted a detection round after the probe (paced, daemon/pacing.py): waited for, as
    # the daemon may have started a moment ago.
    before = await world.wait_value(probes, lambda n: n >= 1)
    await world.wait_value(probes, lambda n: n > before)
    assert await world.value(OK) == 0
    assert await world.daemon.stop() == 0
    # Logged one line per problem, each time.
    for line in [*problems, restart]:
        assert f"config reload: {line}" in world.daemon.log


async def test_a_removed_service_ends_as_no_longer_monitored(world: World) -> None:
    incident = await open_incident(world)
    services = {k: v for k, v in world.platform["services"].items() if k != "webmail"}
    world.write({"platforms": {"eu-de-1": dict(world.platform, services=services)}})
    await world.reload("sighup")
    await world.wait_mail("update")
    ((_, mail),) = world.mails("update")
    body = mail.get_body(preferencelist=("plain",)).get_content()
    assert "no longer monitored" in body and "this incident is closed" in body
    status, found = await world.api("GET", f"/api/v1/incidents/{incident['id']}")
    assert status == 200 and found["state"] == "closed"
    assert any(entry["kind"] == "unmonitored" for entry in found["timeline"])
    assert world.mails("restored") == []  # not a recovery
    # Its series are gone rather than stale.
    assert await world.value(success("webmail")) is None
    assert await world.daemon.stop() == 0
