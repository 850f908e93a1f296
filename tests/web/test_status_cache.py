"""The page cache: one render for everyone waiting, again when the key changes or the page
is too old, and a bounded size."""

from __future__ import annotations

import asyncio

import pytest

from outagewatch.web import status_cache
from outagewatch.web.status_cache import PageCache, Rendered, rendered


class Renderer:
    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()

    async def __call__(self) -> Rendered:
        self.calls += 1
        await self.gate.wait()
        return rendered(f"page {self.calls}".encode(), "text/html")


async def test_many_asking_at_once_get_one_render() -> None:
    cache, render = PageCache(), Renderer()
    waiting = [asyncio.create_task(cache.get("p", 1, render)) for _ in range(20)]
    await asyncio.sleep(0)  # all of them are waiting for the first render
    render.gate.set()
    pages = await asyncio.gather(*waiting)
    assert render.calls == 1 and {p.body for p in pages} == {b"page 1"}


async def test_a_new_key_or_age_renders_again() -> None:
    now = [0.0]
    cache, render = PageCache(max_age=30, clock=lambda: now[0]), Renderer()
    render.gate.set()
    first = await cache.get("p", 1, render)
    assert await cache.get("p", 1, render) is first
    assert (await cache.get("p", 2, render)).body == b"page 2"
    now[0] = 31.0
    assert (await cache.get("p", 2, render)).body == b"page 3"
    assert first.etag != (await cache.get("p", 2, render)).etag


async def test_the_cache_keeps_a_bounded_number_of_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(status_cache, "MAX_BYTES", 100)
    cache = PageCache()

    async def big() -> Rendered:
        return rendered(b"x" * 40, "text/html")

    for n in range(10):
        await cache.get(f"p{n}", 1, big)
    assert cache.size <= 100 and cache.renders == 10
    await cache.get("p9", 1, big)  # the newest is kept
    assert cache.renders == 10
