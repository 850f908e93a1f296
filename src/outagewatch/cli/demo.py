"""``outagewatch demo``: the whole cycle on loopback in about two minutes.

Simulated servers for two platforms, a local mail sink as the relay, and the real daemon
with compressed timings. An IMAP slowdown is injected on eu-de-1, SMTP joins it, then both
recover; every decision and every mail is printed as it happens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from outagewatch.config import Config, parse_config
from outagewatch.daemon.process import Daemon
from outagewatch.incidents import decisions as incidents
from outagewatch.incidents import store as incident_store
from outagewatch.sim import HttpServer, ImapServer, Pop3Server, SimServer, SmtpServer
from outagewatch.store import tokens
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade

USER, PASSWORD = "probe@example.net", "demo-only-password"
PLATFORMS = {
    "eu-de-1": ("OX Cloud EU de-1", "Europe/Berlin", "DE"),
    "us": ("OX Cloud US", "America/New_York", "US"),
}
# SMTP fails right after IMAP's detection and takes as long to be declared (its first bad
# sample, then outage_after): with update_every at 15 s its joining and update 1 fell in the
# same detection round, in either order. 20 s leaves the join 5 s ahead.
RULES = {
    "slow_after": "1s", "outage_after": "10s", "probe_interval": "1s", "probe_timeout": "3s",
    "max_gap": "5s", "restore_after": 2, "update_every": "20s", "oncall_repeat": "1h",
}  # fmt: skip
say: Callable[[str], None] = print


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(
    servers: dict[str, dict[str, SimServer]], relay: SmtpServer, api_port: int, db: Path
) -> Config:
    platforms: dict[str, Any] = {}
    for pid, (name, zone, country) in PLATFORMS.items():
        sims = servers[pid]
        auth = {"username": USER, "password_env": "OUTAGEWATCH_DEMO_PASSWORD"}
        platforms[pid] = {
            "name": name,
            "timezone": zone,
            "holidays": country,
            "lists": {
                "incident": [f"incidents-{pid}@example.net"],
                "informational": [f"announce-{pid}@example.net"],
            },
            "services": {
                "webmail": {
                    "protocol": "http",
                    "url": f"http://127.0.0.1:{sims['http'].port}/",
                    "expect_body": "OX App Suite",
                },
                "smtp": {
                    "protocol": "smtp",
                    "host": "127.0.0.1",
                    "port": sims["smtp"].port,
                    "auth": auth,
                },
                "imap": {
                    "protocol": "imap",
                    "host": "127.0.0.1",
                    "port": sims["imap"].port,
                    "auth": auth,
                },
                "pop3": {
                    "protocol": "pop3",
                    "host": "127.0.0.1",
                    "port": sims["pop3"].port,
                    "auth": auth,
                },
            },
        }
    return parse_config(
        {
            "vantage": "demo",
            "database": f"sqlite+aiosqlite:///{db}",
            "api": {"listen": f"127.0.0.1:{api_port}"},
            "web": {"status_page": True, "public_url": f"http://127.0.0.1:{api_port}"},
            "smtp": {"host": "127.0.0.1", "port": relay.port, "tls": "none",
                     "from": "OX Cloud Operations <noc@example.net>"},
            "oncall": {"email": "oncall@example.net"},
            "outbox": {"send_timeout": "2s", "lease": "10s", "retry_base": "1s", "retry_cap": "5s"},
            "rules": RULES,
            "platforms": platforms,
        }
    )  # fmt: skip


class _Narrator(logging.Handler):
    """Prints the daemon's decisions (warnings and errors of outagewatch's own loggers)."""

    def __init__(self, started: float) -> None:
        super().__init__(logging.INFO)
        self.started = started

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("outagewatch.") and (
            record.levelno >= logging.WARNING or record.name == "outagewatch.incidents"
        ):
            _print(self.started, f"decision  {record.getMessage()}")


def _print(started: float, text: str) -> None:
    elapsed = asyncio.get_running_loop().time() - started
    say(f"[{elapsed:6.1f}s] {text}")
    sys.stdout.flush()


async def _watch_mail(relay: SmtpServer, started: float) -> None:
    shown = 0
    while True:
        await relay.wait_for_messages(shown + 1)
        for received in relay.messages[shown:]:
            mail = message_from_bytes(received.data, policy=policy.default)
            body = mail.get_body(("plain",))
            lines = [ln for ln in (body.get_content() if body else "").splitlines() if ln.strip()]
            _print(started, f"mail      {mail['Subject']}")
            say(f"{'':10}to {', '.join(received.rcpt_tos)}  {mail['Message-ID']}")
            for line in lines[1:4]:
                say(f"{'':10}| {line}")
        shown = len(relay.messages)


async def _until(condition: Callable[[], bool], within: float) -> None:
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - the conditions are other components' lists
            await asyncio.sleep(0.2)


async def run_demo(*, keep_running: bool = False) -> int:
    import os

    os.environ.setdefault("OUTAGEWATCH_DEMO_PASSWORD", PASSWORD)
    tmp = Path(tempfile.mkdtemp(prefix="outagewatch-demo-"))
    servers = {
        pid: {
            "http": HttpServer(users={USER: PASSWORD}),
            "smtp": SmtpServer(users={USER: PASSWORD}),
            "imap": ImapServer(users={USER: PASSWORD}),
            "pop3": Pop3Server(users={USER: PASSWORD}),
        }
        for pid in PLATFORMS
    }
    relay = SmtpServer()
    async with contextlib.AsyncExitStack() as stack:
        for sim in [relay, *(s for group in servers.values() for s in group.values())]:
            await stack.enter_async_context(sim)
        api_port = _free_port()
        config = _config(servers, relay, api_port, tmp / "demo.db")
        loop = asyncio.get_running_loop()
        started = loop.time()
        narrator = _Narrator(started)
        logging.getLogger().addHandler(narrator)
        logging.getLogger().setLevel(logging.INFO)
        stack.callback(logging.getLogger().removeHandler, narrator)
        token = await _demo_token(config)
        daemon = Daemon(config)
        running = asyncio.create_task(daemon.run())
        mail = asyncio.create_task(_watch_mail(relay, started))
        say(f"outagewatch demo: 2 platforms x 4 services on loopback, data in {tmp}")
        say(
            f"  metrics  http://127.0.0.1:{api_port}/metrics   health http://127.0.0.1:{api_port}/healthz"
        )
        say(f"  api      http://127.0.0.1:{api_port}/api/v1/incidents  (try it meanwhile:)")
        say(f"           OUTAGEWATCH_TOKEN={token} outagewatch incidents list \\")
        say(f"             --url http://127.0.0.1:{api_port}")
        web = f"http://127.0.0.1:{api_port}"
        say(f"  status   {web}/status/eu-de-1   (public: the customers' view)")
        say(f"  console  {web}/console   (sign in with the token above)")
        say(f"  rules    {', '.join(f'{k} {v}' for k, v in RULES.items())}")
        interrupted = _on_first_ctrl_c(loop)
        stack.callback(loop.remove_signal_handler, signal.SIGINT)
        script = asyncio.create_task(_script(daemon, servers, relay, started))
        try:
            if await _first_of(script, interrupted) and keep_running:
                say("--keep-running: the daemon stays up; Ctrl-C ends it")
                await _first_of(running, interrupted)
        finally:
            script.cancel()
            daemon.stop()
            await running
            mail.cancel()
            await asyncio.wait({script, mail}, timeout=5)
    if interrupted.done():
        say("demo interrupted (Ctrl-C): the daemon stopped cleanly")
        return 0
    say(
        "demo finished: detected, joined, acknowledged, updated, partly recovered and restored;"
        " the us platform stayed healthy and its list heard nothing."
    )
    return 0


def _on_first_ctrl_c(loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
    """A future done at the first Ctrl-C (SIGINT), which then stops the demo cleanly; a
    second one interrupts at once. Stopping by our own signal handler does not depend on
    the cancellation of whatever the scenario awaits at that moment reaching it."""
    interrupted: asyncio.Future[None] = loop.create_future()

    def first() -> None:
        loop.remove_signal_handler(signal.SIGINT)  # the next one raises KeyboardInterrupt
        if not interrupted.done():
            interrupted.set_result(None)

    loop.add_signal_handler(signal.SIGINT, first)
    return interrupted


async def _first_of(work: asyncio.Future[Any], interrupted: asyncio.Future[None]) -> bool:
    """Waits for ``work`` or a Ctrl-C; True when ``work`` ended first (its error raised)."""
    await asyncio.wait({work, interrupted}, return_when=asyncio.FIRST_COMPLETED)
    if not work.done():
        return False
    work.result()
    return True


async def _script(
    daemon: Daemon, servers: dict[str, dict[str, SimServer]], relay: SmtpServer, started: float
) -> None:
    def mails(word: str) -> int:
        subjects = (
            message_from_bytes(m.data, policy=policy.default)["Subject"] for m in relay.messages
        )
        return sum(word in str(s) for s in subjects)

    def step(text: str) -> None:
        _print(started, f"scenario  {text}")

    de1 = servers["eu-de-1"]
    await asyncio.sleep(4)
    step("all 8 services healthy; now IMAP on eu-de-1 answers after 2 s (slow_after is 1 s)")
    de1["imap"].faults.greeting_delay = 2.0
    await _until(lambda: mails("IMAP — detected") > 0, within=40)
    step("SMTP on eu-de-1 rejects logins too")
    de1["smtp"].faults.reject_login = True
    await _until(lambda: mails("update 1") > 0, within=40)
    step("the on-call engineer acknowledges (it stops the on-call reminders, not the updates)")
    await _act(daemon, "eu-de-1", lambda i, p: incidents.acknowledge(i, "demo-oncall", _now()))
    await _until(lambda: mails("update 2") > 0, within=40)
    step("SMTP is fixed")
    de1["smtp"].faults.reject_login = False
    await _until(lambda: mails("update 4") > 0, within=60)  # two updates from update 2
    step("IMAP is fixed")
    de1["imap"].faults.greeting_delay = 0.0
    await _until(lambda: mails("restored") > 0, within=40)
    await asyncio.sleep(1)


async def _demo_token(config: Config) -> str:
    """An on-call token for the demo's throwaway database, so the API can be tried."""
    engine = open_engine(config.database)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            token, _ = await tokens.create(conn, "demo-oncall", "oncall", _now())
        return token
    finally:
        await engine.dispose()


def _now() -> datetime:
    return datetime.now(UTC)


async def _act(daemon: Daemon, platform: str, action: Callable[[Any, Any], Any]) -> None:
    async with daemon.engine.connect() as conn:
        stored = await incident_store.active(conn, platform)
    if stored is not None and stored.incident.id is not None:
        await daemon.incidents.act(stored.incident.id, action, _now())


def main(keep_running: bool) -> int:
    try:
        return asyncio.run(run_demo(keep_running=keep_running))
    except KeyboardInterrupt:
        return 0
