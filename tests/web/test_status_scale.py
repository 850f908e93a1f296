"""The public pages at thousands of services: what one request costs (statements run,
service states derived, pages rendered) follows what the page shows, never how much is
monitored; a page is rendered once per change and then served from the cache."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, make_mocked_request

from outagewatch.states import Judged, ServiceStates, VantageState
from outagewatch.web.console_lists import home_data
from outagewatch.web.status_routes import PAGES
from tests.states.estates import T0, Estates, counting


@pytest.fixture
async def web_of(tmp_path: Path) -> AsyncIterator[Any]:
    estates = Estates(tmp_path)

    async def start(platforms: int, per_platform: int = 4) -> tuple[TestClient, Any, ServiceStates]:  # type: ignore[type-arg]
        served = await estates.start(platforms, per_platform)
        return served.client, served.engine, served.states

    yield start
    await estates.close()


async def _cost(client: TestClient, engine: Any, url: str, monkeypatch: Any) -> dict[str, int]:  # type: ignore[type-arg]
    pages = client.app[PAGES]
    before = pages.renders
    with counting(engine, monkeypatch) as counts:
        response = await client.get(url)
        assert response.status == 200, await response.text()
        await response.read()
    monkeypatch.undo()
    return {**counts, "renders": pages.renders - before}


async def test_a_platform_page_and_the_overview_cost_the_same_at_600_and_at_3000(
    web_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    costs = []
    for platforms in (150, 750):  # 600 and 3,000 services; the overview shows 100 platforms
        client, engine, _ = await web_of(platforms)
        cold = {
            u: await _cost(client, engine, u, monkeypatch) for u in ("/status/p0042", "/status")
        }
        warm = {
            u: await _cost(client, engine, u, monkeypatch) for u in ("/status/p0042", "/status")
        }
        costs.append((cold, warm))
    assert costs[0] == costs[1]
    cold, warm = costs[0]
    assert cold["/status/p0042"]["states"] == 4 and cold["/status"]["states"] == 400
    assert cold["/status/p0042"]["renders"] == 1 and cold["/status"]["renders"] == 1
    for url in cold:  # from the cache: no state derived, nothing rendered, a few aggregates
        assert warm[url].get("states", 0) == 0 and warm[url]["renders"] == 0
        assert warm[url]["statements"] == 1  # one row of aggregates


async def test_a_page_is_rendered_again_exactly_when_its_platform_changes(
    web_of: Any,
) -> None:
    client, _, states = await web_of(3)
    pages = client.app[PAGES]
    first = await client.get("/status/p0001")
    tag = first.headers["ETag"]
    again = await client.get("/status/p0001", headers={"If-None-Match": tag})
    assert again.status == 304 and pages.renders == 1
    outage = Judged({"fra": VantageState("outage", T0)}, outage=True, maintenance=False)
    states.judged(("p0002", "imap"), outage)  # another platform: this page stands
    assert (await client.get("/status/p0001", headers={"If-None-Match": tag})).status == 304
    states.judged(("p0001", "imap"), outage)
    changed = await client.get("/status/p0001", headers={"If-None-Match": tag})
    assert changed.status == 200 and changed.headers["ETag"] != tag
    assert pages.renders == 2  # once at first, once after its change
    assert "Outage" in await changed.text()


async def test_the_overview_pages_past_100_platforms_and_groups_by_state(web_of: Any) -> None:
    client, _, states = await web_of(230)
    outage = Judged({"fra": VantageState("outage", T0)}, outage=True, maintenance=False)
    states.judged(("p0150", "smtp"), outage)
    seen: list[str] = []
    url, pages = "/status", 0
    while url:
        text = await (await client.get(url)).text()
        seen += [part.split('"')[0] for part in text.split('<a href="/status/p')[1:]]
        after = text.split('rel="next"')[0].rsplit('<a href="', 1)
        url = after[1].split('"')[0] if 'rel="next"' in text else ""
        pages += 1
        if '"/status/p0150"' in text:  # its group comes first, whatever its id
            assert "Outage (1)" in text
            assert text.index("Outage (1)") < text.index('"/status/p0150"')
            assert text.index('"/status/p0150"') < text.index("All services operational")
    assert pages == 3 and len(seen) == 230 and len(set(seen)) == 230


async def test_a_platform_of_2000_services_shows_bars_per_protocol(web_of: Any) -> None:
    client, _, _ = await web_of(1, per_platform=2000)
    response = await client.get("/status/p0000")
    assert response.status == 200
    body = await response.read()
    assert len(body) < 1_000_000, len(body)  # a strip per service: 22 MB
    text = body.decode()
    assert "IMAP (2000 services)" in text and text.count('class="bar ') == 90
    assert "Mailbox s0042 <span" in text and text.count("Mailbox s") == 2000


async def test_the_console_home_costs_the_same_at_600_and_at_3000(
    web_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    costs = []
    for platforms in (150, 750):
        client, engine, _ = await web_of(platforms)
        request = make_mocked_request("GET", "/console", app=client.app)
        with counting(engine, monkeypatch) as counts:
            data = await home_data(request)
        monkeypatch.undo()
        # every seventh service's sample was a refusal: those are listed, 200 at most
        assert len(data["bad"]) == min(200, len(range(0, platforms * 4, 7)))
        assert counts["states"] == counts["samples"] == len(data["bad"])  # only those
        costs.append(counts["statements"])
    assert costs[0] == costs[1]


async def test_a_page_goes_out_gzipped_to_who_accepts_it_with_its_own_etag(web_of: Any) -> None:
    client, _, _ = await web_of(1, per_platform=300)
    packed = await client.get("/status/p0000", headers={"Accept-Encoding": "gzip"})
    plain = await client.get("/status/p0000", headers={"Accept-Encoding": "identity"})
    assert packed.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert await packed.text() == await plain.text()  # the client undoes the gzip
    assert int(packed.headers["Content-Length"]) * 5 < int(plain.headers["Content-Length"])
    assert packed.headers["ETag"] != plain.headers["ETag"]
    again = {"Accept-Encoding": "identity", "If-None-Match": plain.headers["ETag"]}
    assert (await client.get("/status/p0000", headers=again)).status == 304
    crossed = {"Accept-Encoding": "identity", "If-None-Match": packed.headers["ETag"]}
    assert (await client.get("/status/p0000", headers=crossed)).status == 200
