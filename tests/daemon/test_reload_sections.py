"""Each section of the config changed on a running daemon (a subprocess, as operators run it)
by SIGHUP, and its effect seen from outside: the next mail goes through the moved relay, the
next hook to the channel's new URL, to the new lists and on-call address, with the new
template; a new outage rule declares the outage; new certificate lead times warn; the
status page goes on and off.

Every test fails if the reload is reported successful but the running daemon keeps the old
setting (as it once did for the relay and the channels)."""

from __future__ import annotations

import asyncio
import copy
import signal
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
import yaml

from outagewatch.sim import HttpServer, SmtpServer
from outagewatch.sim.smtp import ReceivedMessage
from tests.certs import DAY, NOW
from tests.daemon.test_daemon_e2e import Daemon, free_port, metric
from tests.notify.channels.receivers import WEBHOOK_SECRET, receivers

pytestmark = pytest.mark.timeout(120)
LIST = "incidents-de-1@example.net"
ONCALL = "oncall@example.net"
OK = "outagewatch_config_last_reload_successful "
AT = "outagewatch_config_last_reload_success_timestamp_seconds "
OUTAGE = 'outagewatch_service_outage{platform="eu-de-1"'
BAD_SINCE = 'outagewatch_service_bad_since_seconds{platform="eu-de-1"'


@dataclass
class Running:
    daemon: Daemon
    path: Path
    config: dict[str, Any]
    url: str
    session: aiohttp.ClientSession
    webmail: HttpServer

    async def value(self, prefix: str) -> float | None:
        return await metric(self.session, f"{self.url}/metrics", prefix)

    async def wait_value(self, prefix: str, good: Callable[[float], bool]) -> float:
        async with asyncio.timeout(60):  # start-up and migrations on a loaded machine
            while True:
                found = await self.value(prefix)
                if found is not None and good(found):
                    return found
                await asyncio.sleep(0.05)  # another process: polling is all there is

    async def reload(self, change: Callable[[dict[str, Any]], None]) -> None:
        """Change the file, SIGHUP, and wait until the daemon says it applied it."""
        self.config = copy.deepcopy(self.config)
        change(self.config)
        self.path.write_text(yaml.safe_dump(self.config))
        before = await self.wait_value(AT, lambda at: at > 0)
        assert self.daemon.proc is not None
        self.daemon.proc.send_signal(signal.SIGHUP)
        await self.wait_value(AT, lambda at: at > before)
        assert await self.value(OK) == 1

    def outage(self) -> None:
        self.webmail.faults.greeting_delay = 1.5  # slower than slow_after: every sample bad

    async def status(self, path: str) -> int:
        async with self.session.get(f"{self.url}{path}", allow_redirects=False) as response:
            return response.status


def base(tmp_path: Path, relay: int, webmail: str) -> dict[str, Any]:
    return {
        "vantage": "fra",
        "database": f"sqlite+aiosqlite:///{tmp_path / 'ow.db'}",
        "api": {"listen": f"127.0.0.1:{free_port()}"},
        "smtp": {"host": "127.0.0.1", "port": relay, "tls": "none", "from": "noc@example.net"},
        "oncall": {"email": ONCALL},
        "outbox": {"send_timeout": "1s", "lease": "3s", "retry_base": "200ms",
                   "retry_cap": "1s"},
        "rules": {"slow_after": "1s", "outage_after": "2s", "probe_interval": "500ms",
                  "probe_timeout": "3s", "max_gap": "10s", "update_every": "1h",
                  "oncall_repeat": "1h"},
        "platforms": {"eu-de-1": {
            "name": "OX Cloud EU de-1",
            "lists": {"incident": [LIST], "informational": ["announce@example.net"]},
            "services": {"webmail": {"protocol": "http", "url": webmail}},
        }},
    }  # fmt: skip


@pytest.fixture
async def sink() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as server:
        yield server


@pytest.fixture
async def start(
    tmp_path: Path, sink: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Callable[..., Any]]:
    """Start a daemon on ``base`` as ``adjust`` changes it, mailing through ``sink``."""
    monkeypatch.setenv("OW_HOOK_SECRET", WEBHOOK_SECRET)  # inherited by the daemon
    started: list[Daemon] = []
    async with HttpServer() as webmail, aiohttp.ClientSession() as session:

        async def run(adjust: Callable[[dict[str, Any]], None] = lambda c: None) -> Running:
            config = base(tmp_path, sink.port, webmail.url)
            adjust(config)
            path = tmp_path / "ow.yaml"
            path.write_text(yaml.safe_dump(config))
            daemon = Daemon(path)
            started.append(daemon)
            await daemon.start()
            url = f"http://127.0.0.1:{config['api']['listen'].rpartition(':')[2]}"
            running = Running(daemon, path, config, url, session, webmail)
            await running.wait_value(OK, lambda ok: ok == 1)
            return running

        try:
            yield run
        finally:
            for daemon in started:
                if daemon.proc is not None and daemon.proc.returncode is None:
                    await daemon.stop(signal.SIGKILL)


def hook_to(url: str) -> Callable[[dict[str, Any]], None]:
    """A config change: on-call's one channel is a signed webhook to ``url``."""

    def adjust(config: dict[str, Any]) -> None:
        hook = {"type": "webhook", "url": f"{url}/hook", "secret_env": "OW_HOOK_SECRET"}
        config["channels"] = {"hooks": hook}
        config["oncall"]["channels"] = ["hooks"]

    return adjust


async def mail_to(sink: SmtpServer, address: str, within: float = 30) -> ReceivedMessage:
    """The first mail ``sink`` receives for ``address``, as it arrives."""
    async with asyncio.timeout(within):
        while True:
            for received in sink.messages:
                if address in received.rcpt_tos:
                    return received
            await sink.wait_for_messages(len(sink.messages) + 1)


def body(received: ReceivedMessage) -> str:
    mail = message_from_bytes(received.data.replace(b"\r\n", b"\n"), policy=policy.default)
    text: str = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    return text


async def test_smtp_the_next_mail_goes_through_the_moved_relay(
    start: Callable[..., Any], sink: SmtpServer
) -> None:
    async with SmtpServer() as moved:
        running: Running = await start()
        await running.reload(lambda c: c["smtp"].update(port=moved.port))
        running.outage()
        await mail_to(moved, LIST)
        assert sink.messages == []  # nothing went through the old relay
        assert await running.daemon.stop() == 0


async def test_smtp_mail_waiting_for_the_old_relay_leaves_through_the_new_one(
    start: Callable[..., Any],
) -> None:
    def gone(config: dict[str, Any]) -> None:
        config["smtp"]["port"] = free_port()  # nothing listens there: the relay has moved
        # Its next retry would be ten minutes away; its health check an hour.
        config["outbox"].update(retry_base="10m", retry_cap="1h", relay_check="1h")

    retried = 'outagewatch_notifications_total{channel="mail",kind="detected",result="retry"}'
    async with SmtpServer() as moved:
        running: Running = await start(gone)
        running.outage()
        await running.wait_value(retried, lambda n: n >= 1)  # the detected mail waits
        await running.reload(lambda c: c["smtp"].update(port=moved.port))
        await mail_to(moved, LIST)  # at once, not at its retry
        assert await running.daemon.stop() == 0


async def test_channels_the_next_hook_goes_to_the_new_url(start: Callable[..., Any]) -> None:
    async with receivers() as old, receivers() as new:
        running: Running = await start(hook_to(old.url))
        await running.reload(hook_to(new.url))
        running.outage()
        (hook,) = await new.wait_for("webhook", 1)
        assert hook.body["type"] == "incident.opened"
        assert old.received == [] and new.violations == []
        assert await running.daemon.stop() == 0


async def test_channels_a_hook_waiting_for_the_old_url_goes_to_the_new_one(
    start: Callable[..., Any],
) -> None:
    def gone(config: dict[str, Any]) -> None:
        hook_to(f"http://127.0.0.1:{free_port()}")(config)  # nothing listens there
        config["outbox"].update(retry_base="10m", retry_cap="1h")  # its retry: 10 minutes away

    retried = 'outagewatch_notifications_total{channel="hooks",kind="opened",result="retry"}'
    async with receivers() as new:
        running: Running = await start(gone)
        running.outage()
        await running.wait_value(retried, lambda n: n >= 1)  # the hook waits
        await running.reload(hook_to(new.url))
        await new.wait_for("webhook", 1)  # at once, not at its retry
        assert await running.daemon.stop() == 0


async def test_rules_a_shorter_outage_after_declares_the_outage(
    start: Callable[..., Any], sink: SmtpServer
) -> None:
    running: Running = await start(lambda c: c["rules"].update(outage_after="1h"))
    running.outage()
    await running.wait_value(BAD_SINCE, lambda seconds: seconds > 0)  # the bad run has begun
    assert not await running.value(OUTAGE)  # no outage (no series, or 0): an hour is far away
    await running.reload(lambda c: c["rules"].update(outage_after="2s"))
    await running.wait_value(OUTAGE, lambda outage: outage == 1)
    await mail_to(sink, LIST)  # and announced
    assert await running.daemon.stop() == 0


async def test_templates_dir_the_next_mail_uses_the_new_template(
    start: Callable[..., Any], sink: SmtpServer, tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "detected.txt.j2").write_text(
        "{{ platform.name }}: {{ affected }} fails; reviewed wording.\n"
    )
    running: Running = await start()
    await running.reload(lambda c: c.update(templates_dir=str(templates)))
    running.outage()
    customer = body(await mail_to(sink, LIST))
    assert customer == "OX Cloud EU de-1: Web-Mail fails; reviewed wording.\n"
    assert await running.daemon.stop() == 0


async def test_tls_new_warning_lead_times_apply_to_the_certificates_seen(
    start: Callable[..., Any], sink: SmtpServer, ca: trustme.CA, ca_file: str
) -> None:
    # 90 days of life, 5 left: inside the default critical lead (7 days), not inside 1 day.
    leaf = ca.issue_cert(
        "localhost", "127.0.0.1", not_before=NOW - 85 * DAY, not_after=NOW + 5 * DAY
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(context)
    async with HttpServer(tls="implicit", ssl_context=context) as portal:

        def short_leads(config: dict[str, Any]) -> None:
            config["tls"] = {"warn_before": "2d", "critical_before": "1d"}
            service = {"protocol": "http", "url": portal.url, "ca_file": ca_file}
            config["platforms"]["eu-de-1"]["services"]["portal"] = service

        running: Running = await start(short_leads)
        expiry = 'outagewatch_tls_cert_expiry_timestamp_seconds{cert="leaf",platform="eu-de-1"'
        await running.wait_value(expiry, lambda at: at > 0)  # seen, and judged: nothing to say
        await running.reload(lambda c: c.pop("tls"))
        mail = await mail_to(sink, ONCALL)
        assert b"[on-call] eu-de-1/portal: certificate expires in 4 days (critical)" in mail.data
        assert await running.daemon.stop() == 0


async def test_web_the_status_page_is_switched_on_and_off(start: Callable[..., Any]) -> None:
    running: Running = await start()
    assert await running.status("/status/eu-de-1") == 404
    await running.reload(lambda c: c.update(web={"status_page": True}))
    assert await running.status("/status/eu-de-1") == 200
    await running.reload(lambda c: c.update(web={"status_page": False}))
    assert await running.status("/status/eu-de-1") == 404
    assert await running.daemon.stop() == 0


async def test_oncall_the_next_page_goes_to_the_new_address(
    start: Callable[..., Any], sink: SmtpServer
) -> None:
    running: Running = await start()
    await running.reload(lambda c: c["oncall"].update(email="oncall-new@example.net"))
    running.outage()
    oncall = body(await mail_to(sink, "oncall-new@example.net"))
    assert oncall.startswith("New incident OW-")
    assert not [m for m in sink.messages if ONCALL in m.rcpt_tos]
    assert await running.daemon.stop() == 0


async def test_platforms_the_next_mail_goes_to_the_new_list(
    start: Callable[..., Any], sink: SmtpServer
) -> None:
    new_list = "incidents-de-1-new@example.net"
    running: Running = await start()
    await running.reload(lambda c: c["platforms"]["eu-de-1"]["lists"].update(incident=[new_list]))
    running.outage()
    await mail_to(sink, new_list)
    assert not [m for m in sink.messages if LIST in m.rcpt_tos]
    assert await running.daemon.stop() == 0
