"""Stand-ins for the vendors' SaaS endpoints (no real peer can run here), on loopback.

Each checks every request against the vendor's documented contract and answers as the
vendor does: PagerDuty Events API v2, Opsgenie / JSM alert API, Slack incoming webhooks
(Block Kit limits), Teams Workflows (Adaptive Card required fields), and a Standard
Webhooks receiver that verifies signatures with the ``standardwebhooks`` library itself.
A contract violation is answered as the vendor answers it and also recorded in
``violations``, so a test can assert there were none.

``fault()`` scripts the next answers of one vendor (or of any): an HTTP status with
headers, or ``HANG`` (no answer: the client's timeout must fire).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.notify.channels.contracts import (
    opsgenie_problems,
    pagerduty_problems,
    slack_problems,
    teams_problems,
)

ROUTING_KEY = "R0ut1ngKeyForTestsOnly0000000000"  # PagerDuty integration keys: 32 characters
GENIE_KEY = "6f1a7c1e-0000-4000-8000-00000000abcd"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SLACK_PATH = "/services/T0001/B0001/slacktokenslacktoken"
TEAMS_PATH = "/workflows/abc123/triggers/manual/paths/invoke"
HANG = -1


@dataclass(frozen=True)
class Received:
    vendor: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Receivers:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    faults: list[tuple[str, int, dict[str, str]]] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def of(self, vendor: str) -> list[Received]:
        return [r for r in self.received if r.vendor == vendor]

    async def wait_for(self, vendor: str, count: int, within: float = 30.0) -> list[Received]:
        return await self.wait_until(vendor, lambda found: len(found) >= count, within)

    async def wait_until(
        self, vendor: str, done: Callable[[list[Received]], bool], within: float = 30.0
    ) -> list[Received]:
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: done(self.of(vendor)))
        return self.of(vendor)

    async def _record(self, request: web.Request, vendor: str, body: Any) -> None:
        item = Received(vendor, request.path, dict(request.query), dict(request.headers), body)
        async with self.arrived:
            self.received.append(item)
            self.arrived.notify_all()

    def fault(self, status: int, headers: dict[str, str] | None = None, vendor: str = "*") -> None:
        self.faults.append((vendor, status, headers or {}))

    async def _fault(self, vendor: str) -> web.Response | None:
        mine = [f for f in self.faults if f[0] in (vendor, "*")]
        if not mine:
            return None
        self.faults.remove(mine[0])
        _, status, headers = mine[0]
        if status == HANG:
            await asyncio.sleep(3600)  # cancelled when the client gives up or at cleanup
        return web.json_response({"message": f"scripted {status}"}, status=status,
                                 headers=headers)  # fmt: skip

    def _refuse(self, vendor: str, problems: list[str]) -> None:
        self.violations.extend(f"{vendor}: {p}" for p in problems)

    # PagerDuty Events API v2 ---------------------------------------------------------
    async def pagerduty(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("pagerduty")) is not None:
            return fault
        body = await request.json()
        problems = pagerduty_problems(body)
        await self._record(request, "pagerduty", body)
        if problems:
            self._refuse("pagerduty", problems)
            invalid = {"status": "invalid event", "message": "Event object is invalid"}
            return web.json_response({**invalid, "errors": problems}, status=400)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]},
            status=202,
        )

    # Opsgenie / JSM alert API --------------------------------------------------------
    async def opsgenie(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("opsgenie")) is not None:
            return fault
        if request.headers.get("Authorization") != f"GenieKey {GENIE_KEY}":
            self._refuse("opsgenie", ["Authorization is not GenieKey <key>"])
            return web.json_response({"message": "Could not authenticate"}, status=401)
        body = await request.json()
        action = request.match_info.get("action", "create")
        problems = opsgenie_problems(action, dict(request.query), body)
        await self._record(request, "opsgenie", {"action": action, **body})
        if problems:
            self._refuse("opsgenie", problems)
            return web.json_response({"message": "; ".join(problems), "took": 0.001,
                                      "requestId": str(uuid.uuid4())}, status=422)  # fmt: skip
        return web.json_response({"result": "Request will be processed", "took": 0.01,
                                  "requestId": str(uuid.uuid4())}, status=202)  # fmt: skip

    # Slack incoming webhook ----------------------------------------------------------
    async def slack(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("slack")) is not None:
            return fault
        body = await request.json()
        problems = slack_problems(body)
        await self._record(request, "slack", body)
        if problems:
            self._refuse("slack", problems)
            return web.Response(status=400, text="invalid_blocks")
        return web.Response(text="ok")

    # Teams Workflows webhook ---------------------------------------------------------
    async def teams(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("teams")) is not None:
            return fault
        body = await request.json()
        problems = teams_problems(body)
        await self._record(request, "teams", body)
        if problems:
            self._refuse("teams", problems)
            error = {"code": "InvalidRequestContent", "message": "; ".join(problems)}
            return web.json_response({"error": error}, status=400)
        return web.Response(status=202)

    # Standard Webhooks ---------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        if (fault := await self._fault("webhook")) is not None:
            return fault
        raw = await request.read()
        headers = dict(request.headers)
        signed = "webhook-signature" in {k.lower() for k in headers}
        try:
            body = Webhook(WEBHOOK_SECRET).verify(raw, headers) if signed else json.loads(raw)
        except WebhookVerificationError as exc:
            self._refuse("webhook", [f"signature: {exc}"])
            return web.Response(status=401, text=str(exc))
        await self._record(request, "webhook" if signed else "unsigned", body)
        return web.Response(status=204)


@asynccontextmanager
async def receivers() -> AsyncIterator[Receivers]:
    found = Receivers()
    app = web.Application()
    app.router.add_post("/v2/enqueue", found.pagerduty)
    app.router.add_post("/v2/alerts", found.opsgenie)
    app.router.add_post("/v2/alerts/{alias}/{action}", found.opsgenie)
    app.router.add_post(SLACK_PATH, found.slack)
    app.router.add_post(TEAMS_PATH, found.teams)
    app.router.add_post("/hook", found.webhook)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield found
    finally:
        await runner.cleanup()
