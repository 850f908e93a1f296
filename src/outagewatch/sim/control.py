"""A small HTTP endpoint to read and change the faults of running simulators.

``GET /faults`` shows every simulator; ``POST /faults/{protocol}`` with a JSON object of
`Faults` fields (and ``"refuse": true|false`` to stop or resume listening) changes one.
Unknown fields and bad values answer 400 naming the field; nothing is applied then.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web

from outagewatch.sim.faults import FaultError
from outagewatch.sim.server import SimServer


class ControlServer:
    """Serves the control endpoint on a loopback address (port 0 = ephemeral)."""

    def __init__(
        self, servers: Mapping[str, SimServer], *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.servers = dict(servers)
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_get("/faults", self._show_all)
        app.router.add_post("/faults/{protocol}", self._change)
        self._runner = web.AppRunner(app, access_log=None)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/faults"

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _show_all(self, request: web.Request) -> web.Response:
        return web.json_response({name: describe(server) for name, server in self.servers.items()})

    async def _change(self, request: web.Request) -> web.Response:
        name = request.match_info["protocol"]
        server = self.servers.get(name)
        if server is None:
            return _problem(404, f"no simulator {name!r}; running: {', '.join(self.servers)}")
        try:
            body = await request.json()
        except json.JSONDecodeError as exc:
            return _problem(400, f"the body is not JSON: {exc}")
        if not isinstance(body, dict):
            return _problem(400, "the body must be a JSON object of fault fields")
        refuse = body.pop("refuse", None)
        if refuse is not None and not isinstance(refuse, bool):
            return _problem(400, f"refuse: must be true or false, got {refuse!r}", "refuse")
        try:
            server.faults.update(body)  # all fields or none
        except FaultError as exc:
            return _problem(400, str(exc), exc.field)
        if refuse is not None:
            await server.set_refusing(refuse)
        return web.json_response(describe(server))


def describe(server: SimServer) -> dict[str, object]:
    return {
        "address": server.address,
        "tls": server.tls,
        "refusing": server.refusing,
        "open_connections": server.tracker.open_count,
        "faults": server.faults.as_dict(),
    }


def _problem(status: int, detail: str, field: str | None = None) -> web.Response:
    body: dict[str, object] = {"error": detail}
    if field is not None:
        body["field"] = field
    return web.json_response(body, status=status)
