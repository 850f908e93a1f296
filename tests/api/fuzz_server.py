"""The real aiohttp application with every inbound surface on (the API, the inbound hooks
with their secrets, the status page and the console), in a thread of its own so that
synchronous fuzzers (schemathesis, requests under hypothesis) can call it; and what it
logged, so a test can say that nothing ended in a traceback."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from outagewatch.api.app import make_app
from outagewatch.api.context import ApiContext
from outagewatch.config.channels import OpsgenieChannel, PagerDutyChannel
from outagewatch.config.model import Web
from outagewatch.incidents.decisions import open_reported
from outagewatch.incidents.engine import IncidentEngine, audiences
from outagewatch.maintenance.engine import MaintenanceEngine
from outagewatch.metrics import Metrics
from outagewatch.store import tokens
from outagewatch.store.engine import open_engine
from outagewatch.store.migrate import upgrade

from ..incidents.world import T0, config_for

PD_SECRET, JSM_TOKEN = "fuzz-pagerduty-secret-1", "fuzz-callback-token-1"
SECRETS = {"OW_FUZZ_PD_KEY": "pd-routing-key", "OW_FUZZ_PD_SECRET": PD_SECRET,
           "OW_FUZZ_JSM_KEY": "jsm-api-key", "OW_FUZZ_JSM_TOKEN": JSM_TOKEN}  # fmt: skip


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def tracebacks(self) -> list[str]:
        """Every record that carries a traceback, or that says a request failed inside."""
        return [
            f"{r.name}: {r.getMessage()}"
            for r in self.records
            if r.exc_info or r.exc_text or "Error handling request" in r.getMessage()
        ]


@dataclass
class FuzzServer:
    base: str
    token: str  # an admin token
    ref: str  # an open incident to act on
    log: Recorder


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp: Path) -> Any:
    config = config_for(25, tmp / "unused.db")
    channels = {
        "pd": PagerDutyChannel(type="pagerduty", routing_key_env="OW_FUZZ_PD_KEY",
                               webhook_secret_env="OW_FUZZ_PD_SECRET"),
        "jsm": OpsgenieChannel(type="opsgenie", api_key_env="OW_FUZZ_JSM_KEY",
                               callback_token_env="OW_FUZZ_JSM_TOKEN"),
    }  # fmt: skip
    web_ = Web(status_page=True, public_url="https://status.example.net")
    return config.model_copy(update={"channels": channels, "web": web_})


@contextmanager
def fuzz_server(tmp: Path) -> Iterator[FuzzServer]:
    saved = {name: os.environ.get(name) for name in SECRETS}
    os.environ.update(SECRETS)
    port, loop, ready = _free_port(), asyncio.new_event_loop(), threading.Event()
    found: dict[str, Any] = {}
    recorder = Recorder()
    root = logging.getLogger()
    root.addHandler(recorder)

    async def serve() -> web.AppRunner:
        db = open_engine(f"sqlite+aiosqlite:///{tmp / 'ow.db'}")
        await upgrade(db)
        config = _config(tmp)
        engine = IncidentEngine(db, audiences(config))
        async with db.begin() as conn:
            found["token"], _ = await tokens.create(conn, "fuzzer", "admin", T0)
        incident = await engine.open_reported(
            "eu-de-1",
            lambda p, ref: open_reported(p, ("imap",), ticket="T-1", ref=ref, actor="x", now=T0),
            T0,
        )
        found["ref"] = incident.ref
        windows = MaintenanceEngine(db, config, engine.audiences)
        context = ApiContext(db, config, engine, None, lambda: T0, windows)
        runner = web.AppRunner(make_app(Metrics(), lambda: True, context))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        found["db"] = db
        return runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        found["runner"] = loop.run_until_complete(serve())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        yield FuzzServer(f"http://127.0.0.1:{port}", found["token"], found["ref"], recorder)
    finally:

        async def stop() -> None:
            await found["runner"].cleanup()
            await found["db"].dispose()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        root.removeHandler(recorder)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
