"""The HTTP login probe follows a redirect of its POST only within the login's own origin:
a 307 or 308 elsewhere would repeat the POST, with the probe's password, to another host."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from outagewatch.config import HttpService
from outagewatch.probes import PROBES, Credentials, ErrorKind, ProbeResult, run_probe

USER, PASSWORD = "probe@example.net", "s3cret-Pw!42"


@dataclass
class Site:
    """A real aiohttp server on loopback that records every request it gets."""

    routes: list[web.RouteDef]
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    async def __aenter__(self) -> Site:
        @web.middleware
        async def record(request: web.Request, handler: web.Handler) -> web.StreamResponse:
            form = {k: str(v) for k, v in (await request.post()).items()}
            self.seen.append((request.method, request.path, form))
            return await handler(request)

        app = web.Application(middlewares=[record])
        app.add_routes(self.routes)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


async def welcome(request: web.Request) -> web.Response:
    form = await request.post()
    ok = form.get("password") == PASSWORD
    return web.Response(text="Welcome" if ok else "Who are you?", status=200 if ok else 403)


@pytest.fixture
async def elsewhere() -> AsyncIterator[Site]:
    async with Site([web.post("/steal", welcome), web.get("/steal", welcome)]) as site:
        yield site


def webmail(target: str, status: int) -> list[web.RouteDef]:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="OX App Suite")

    async def login(request: web.Request) -> web.Response:
        return _redirect(status, target)

    return [web.get("/", page), web.post("/login", login), web.post("/welcome", welcome),
            web.get("/welcome", page)]  # fmt: skip


def _redirect(status: int, location: str) -> web.Response:
    return web.Response(status=status, headers={"Location": location})


async def probe(site: Site, expect_status: int = 200) -> ProbeResult:
    service = HttpService(
        protocol="http", url=f"{site.url}/", expect_body="OX App Suite",
        auth={"username": USER, "password_env": "UNUSED"},  # type: ignore[arg-type]
        login={"url": f"{site.url}/login", "expect_status": expect_status},  # type: ignore[arg-type]
    )  # fmt: skip
    return await run_probe(
        PROBES["http"], service, limit=5, credentials=Credentials(USER, PASSWORD)
    )


@pytest.mark.parametrize("status", [307, 308])
async def test_a_repeated_post_to_another_origin_is_not_followed(
    elsewhere: Site, status: int
) -> None:
    async with Site(webmail(f"{elsewhere.url}/steal", status)) as site:
        result = await probe(site)
    assert elsewhere.seen == []  # the password never left for the other host
    assert result.error_kind is ErrorKind.AUTH
    assert f"status {status}, expected 200" in result.detail


async def test_a_redirect_elsewhere_is_judged_as_it_is(elsewhere: Site) -> None:
    async with Site(webmail(f"{elsewhere.url}/steal", 303)) as site:
        result = await probe(site, expect_status=303)
    assert result.error_kind is None, result.detail
    assert elsewhere.seen == []


@pytest.mark.parametrize(("status", "method"), [(307, "POST"), (308, "POST"), (303, "GET")])
async def test_a_redirect_within_the_origin_is_followed(status: int, method: str) -> None:
    async with Site(webmail("/welcome", status)) as site:
        result = await probe(site)
    assert [(m, p) for m, p, _ in site.seen] == [("GET", "/"), ("POST", "/login"),
                                                 (method, "/welcome")]  # fmt: skip
    if method == "POST":
        assert result.error_kind is None, result.detail
        assert site.seen[-1][2]["password"] == PASSWORD
    else:  # a 303 turns the POST into a GET without the form, as browsers do
        assert site.seen[-1][2] == {}


async def test_a_redirect_loop_ends_as_a_protocol_error() -> None:
    async with Site(webmail("/login", 307)) as site:
        result = await probe(site)
    assert result.error_kind is ErrorKind.PROTOCOL and "redirects more than" in result.detail
