"""The control endpoint changes the faults of running simulators."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from outagewatch.sim import Faults, Pop3Server, SmtpServer
from outagewatch.sim.control import ControlServer
from tests.sim.simhelpers import raw_client

S200_OK = 200
S400_BAD_REQUEST = 400
S404_NOT_FOUND = 404


@pytest.fixture
async def running() -> AsyncIterator[tuple[ControlServer, SmtpServer, Pop3Server]]:
    async with SmtpServer() as smtp, Pop3Server() as pop3:
        control = ControlServer({"smtp": smtp, "pop3": pop3})
        await control.start()
        try:
            yield control, smtp, pop3
        finally:
            await control.stop()


async def test_show_and_change_faults(
    running: tuple[ControlServer, SmtpServer, Pop3Server],
) -> None:
    control, smtp, pop3 = running
    async with aiohttp.ClientSession() as http:
        async with http.get(control.url) as response:
            shown = await response.json()
        assert set(shown) == {"smtp", "pop3"}
        assert shown["pop3"]["faults"] == Faults().as_dict()
        assert shown["pop3"]["address"] == pop3.address

        change = {"greeting_delay": 0.25, "reject_login": True}
        async with http.post(f"{control.url}/pop3", json=change) as response:
            assert response.status == S200_OK
            assert (await response.json())["faults"]["greeting_delay"] == 0.25
    assert pop3.faults == Faults(greeting_delay=0.25, reject_login=True)
    assert smtp.faults == Faults()
    async with raw_client(pop3) as client:
        await client.line()
    assert time.perf_counter() - client.started_at >= 0.25


async def test_refuse_and_accept_again(
    running: tuple[ControlServer, SmtpServer, Pop3Server],
) -> None:
    control, smtp, _ = running
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{control.url}/smtp", json={"refuse": True}) as response:
            assert (await response.json())["refusing"] is True
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(smtp.host, smtp.port)
        async with http.post(f"{control.url}/smtp", json={"refuse": False}) as response:
            assert response.status == S200_OK
    async with raw_client(smtp) as client:
        assert (await client.line()).startswith(b"220 ")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"greeting_dealy": 1}, "greeting_dealy"),
        ({"hang": "yes"}, "hang"),
        ({"refuse": "yes"}, "refuse"),
        ({"hostile": "rude", "refuse": True}, "hostile"),
    ],
)
async def test_a_bad_change_is_400_naming_the_field_and_changes_nothing(
    running: tuple[ControlServer, SmtpServer, Pop3Server], body: dict[str, object], field: str
) -> None:
    control, smtp, _ = running
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{control.url}/smtp", json=body) as response,
    ):
        assert response.status == S400_BAD_REQUEST
        problem = await response.json()
    assert problem["field"] == field
    assert field in problem["error"]
    assert smtp.faults == Faults()
    assert not smtp.refusing


@pytest.mark.parametrize(
    ("path", "data", "status"),
    [("/nntp", "{}", S404_NOT_FOUND), ("/smtp", "not json", S400_BAD_REQUEST)],
)
async def test_unknown_protocol_and_bad_json(
    running: tuple[ControlServer, SmtpServer, Pop3Server], path: str, data: str, status: int
) -> None:
    control, _, _ = running
    async with (
        aiohttp.ClientSession() as http,
        http.post(control.url + path, data=data) as response,
    ):
        assert response.status == status
        assert "error" in await response.json()


async def test_a_hostile_mode_set_through_the_endpoint(
    running: tuple[ControlServer, SmtpServer, Pop3Server],
) -> None:
    control, smtp, _ = running
    change = {"hostile": "endless_lines"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{control.url}/smtp", json=change) as response,
    ):
        assert response.status == S200_OK
    async with raw_client(smtp) as client:
        lines = [await client.line() for _ in range(200)]
    assert set(lines) == {SmtpServer.hostile_shapes.line}
