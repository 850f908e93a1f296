"""The status page and the console in chromium, against the real daemon: an outage appears
on the page, the on-call engineer works it in the console (the acknowledgement by keyboard
alone), the customers' update mail arrives and the page shows it, the restoration too;
axe-core finds no serious or critical violation on any page; screenshots are kept."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import feedparser
import pytest
from playwright.async_api import Browser, Page, expect

from .browser import DESKTOP, PHONE, screenshot, serious_violations
from .daemon_world import PLATFORM, World

pytestmark = pytest.mark.real


async def shows(page: Page, url: str, text: str, within: float = 15) -> None:
    """Reload ``url`` until it shows ``text``: the page changes in another process."""
    async with asyncio.timeout(within):
        while True:
            await page.goto(url)
            if text in await page.content():
                return
            await asyncio.sleep(0.25)


async def accessible(page: Page) -> None:
    """No serious or critical axe violation, in the light and in the dark colour scheme."""
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        assert await serious_violations(page) == [], f"{page.url} ({scheme})"
    await page.emulate_media(color_scheme="light")


async def both_widths(page: Page, name: str) -> None:
    for size, suffix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        await page.set_viewport_size(size)
        await screenshot(page, f"{name}-{suffix}")
        # Nothing wider than the screen at 375 px: no sideways scrolling of the page.
        if suffix == "phone":
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{name} is {width} px wide at 375 px"
    await page.set_viewport_size(DESKTOP)


async def sign_in(page: Page, world: World, role: str) -> None:
    await page.goto(f"{world.url}/console")
    await expect(page).to_have_url(f"{world.url}/console/sign-in?next=/console")
    await page.get_by_label("API token").fill(world.tokens[role])
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Incidents", exact=True)).to_be_visible()


async def tab_to(page: Page, name: str, limit: int = 60) -> None:
    """Press Tab until the button called ``name`` has the focus, as a keyboard user does."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "document.activeElement.tagName + ':' + document.activeElement.textContent.trim()"
        )
        if focused == f"BUTTON:{name}":
            return
    raise AssertionError(f"no button {name!r} within {limit} presses of Tab")


async def check_status_page_during_the_outage(page: Page, world: World) -> None:
    status = f"{world.url}/status/{PLATFORM}"
    await shows(page, status, "we have detected an outage on OX Cloud EU de-1")
    webmail = page.locator(".service", has=page.get_by_role("heading", name="Web-Mail"))
    await expect(webmail.locator(".badge")).to_have_text("Outage")
    today = webmail.locator(".bar").last
    label = await today.get_attribute("aria-label")
    # The bars are the platform's days (Europe/Berlin in daemon_world), not the machine's:
    # from 23:00 UTC, Berlin's today is already tomorrow.
    today_text = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).strftime("%b %Y")
    assert label and label.endswith("available, 1 incident") and today_text in label, label
    assert "l-major" in (await today.get_attribute("class") or "")
    shown = await page.locator("main").inner_text()
    assert world.webmail.url not in shown and "oncall@" not in shown  # never a host, no on-call
    # Each strip is one tab stop (the config lists IMAP first): Tab reaches IMAP's strip,
    # one more Tab Web-Mail's, on today; arrow keys move between days; Tab leaves the strip.
    await page.locator("h1").click()
    for _ in range(30):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.classList.contains('bar')"):
            break
    focused = "document.activeElement.getAttribute('aria-label')"
    in_service = "document.activeElement.closest('.service').querySelector('h3').textContent"
    assert await page.evaluate(in_service) == "IMAP Operational"
    await page.keyboard.press("Tab")
    assert await page.evaluate(in_service) == "Web-Mail Outage"
    assert await page.evaluate(focused) == label
    await page.keyboard.press("ArrowLeft")
    yesterday = await webmail.locator(".bar").nth(88).get_attribute("aria-label")
    assert await page.evaluate(focused) == yesterday
    await expect(webmail.locator(".bar-caption")).to_have_text(yesterday or "")
    await page.keyboard.press("End")
    assert await page.evaluate(focused) == label
    await page.keyboard.press("Tab")
    assert not await page.evaluate("document.activeElement.classList.contains('bar')")
    await accessible(page)
    await both_widths(page, "status-page-incident")


@pytest.mark.timeout(150)
async def test_outage_worked_in_the_console_and_shown_on_the_status_page(
    browser: Browser, world: World
) -> None:
    world.webmail.faults.greeting_delay = 1.0  # slower than slow_after: every sample bad
    detected = await world.mail(lambda s: "[OX Cloud EU de-1]" in s and s.endswith("detected"))
    ref = next(line for line in detected.get_body(("plain",)).get_content().splitlines()  # type: ignore[union-attr]
               if line.startswith("Incident:")).split()[1]  # fmt: skip

    public = await browser.new_page()
    await check_status_page_during_the_outage(public, world)

    console = await (await browser.new_context(viewport=DESKTOP)).new_page()
    await sign_in(console, world, "oncall")
    home = console.locator("#incidents")
    await expect(home.locator(".unacked")).to_contain_text(ref)
    await expect(home.locator(".unacked")).to_contain_text("Not acknowledged")
    await accessible(console)

    await console.get_by_role("link", name=ref).click()
    await expect(console.get_by_role("heading", level=1)).to_contain_text(ref)
    await accessible(console)
    await both_widths(console, "console-incident")

    # Acknowledge with the keyboard alone.
    await tab_to(console, "Acknowledge")
    await console.keyboard.press("Enter")
    await expect(console.get_by_role("status")).to_have_text("Done: acknowledged.")
    await expect(console.locator(".facts-list")).to_contain_text("Acknowledged by alice")

    message = "The webmail front ends are being moved to healthy hardware."
    etr = (datetime.now(UTC) + timedelta(hours=2)).replace(second=0, microsecond=0)
    await console.get_by_label("Message (mailed at once)").fill(message)
    await console.get_by_label("Expected time to restoration (UTC)").fill(f"{etr:%Y-%m-%dT%H:%M}")
    await console.get_by_role("button", name="Post update").click()
    await expect(console.get_by_role("status")).to_contain_text("update posted")

    update = await world.mail(lambda s: s.endswith("update 1"))
    body = update.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert message in body and f"{etr:%Y-%m-%d %H:%M} UTC" in body
    assert f"Status page:  {world.url}/status/{PLATFORM}/incidents/{ref}" in body
    await shows(public, f"{world.url}/status/{PLATFORM}", message)
    await shows(public, f"{world.url}/status/{PLATFORM}/incidents/{ref}", message)
    await accessible(public)
    atom = await public.request.get(f"{world.url}/status/{PLATFORM}/feed.atom")
    feed = feedparser.parse(await atom.body())
    assert not feed.bozo and ref in feed.entries[0].title
    assert message in feed.entries[0].content[0].value

    world.webmail.faults.greeting_delay = 0.0
    await console.get_by_role("button", name="Restore (all services back)").click()
    await expect(console.get_by_role("status")).to_contain_text("restored")
    restored = await world.mail(lambda s: s.endswith("restored"))
    assert ref in restored.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await shows(public, f"{world.url}/status/{PLATFORM}/incidents/{ref}", "Resolved")
    await public.goto(f"{world.url}/status/{PLATFORM}")
    assert "Current incidents" not in await public.content()
    await expect(public.locator("#past-h")).to_be_visible()
    await expect(public.locator("section", has=public.locator("#past-h"))).to_contain_text(ref)


@pytest.mark.timeout(120)
async def test_viewer_csrf_maintenance_and_sign_out(browser: Browser, world: World) -> None:
    import aiohttp

    report = {"platform": PLATFORM, "services": ["imap"], "ticket": "T-99",
              "user_impact": "Some users cannot read their mail."}  # fmt: skip
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{world.url}/api/v1/incidents", json=report,
                     headers={"Authorization": f"Bearer {world.tokens['oncall']}"}) as response,
    ):  # fmt: skip
        assert response.status == 201
        ref = (await response.json())["ref"]

    viewer = await (await browser.new_context()).new_page()
    blocked: list[str] = []
    viewer.on("console", lambda m: blocked.append(m.text) if "Content Security" in m.text else None)
    await sign_in(viewer, world, "viewer")
    # htmx (vendored, under the page's CSP) refreshes the list: an acknowledgement made
    # elsewhere shows up without a reload.
    assert await viewer.evaluate("htmx.version") == "2.0.11"
    unacked = viewer.locator("#incidents .unacked")
    await expect(unacked).to_contain_text(ref)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{world.url}/api/v1/incidents/{ref}/ack", json={},
                     headers={"Authorization": f"Bearer {world.tokens['oncall']}"}) as response,
    ):  # fmt: skip
        assert response.status == 200
    await expect(viewer.locator("#incidents")).to_contain_text(
        "Acknowledged by alice", timeout=20_000
    )
    assert blocked == []
    await viewer.goto(f"{world.url}/console/incidents/{ref}")
    await expect(viewer.get_by_text("acting on it needs the oncall role")).to_be_visible()
    assert await viewer.get_by_role("button", name="Acknowledge").count() == 0
    # A hand-made form with the viewer's own valid CSRF token: the role still says no.
    await viewer.evaluate(
        """ref => { const f = document.createElement('form'); f.method = 'post';
        f.action = '/console/incidents/' + ref + '/ack';
        f.appendChild(document.querySelector('input[name=csrf]').cloneNode());
        document.body.appendChild(f); f.submit(); }""",
        ref,
    )
    await expect(viewer.get_by_role("alert")).to_contain_text("This needs the oncall role")
    await accessible(viewer)

    oncall = await (await browser.new_context()).new_page()
    await sign_in(oncall, world, "oncall")
    await oncall.goto(f"{world.url}/console/incidents/{ref}")
    await oncall.evaluate("document.querySelectorAll('input[name=csrf]').forEach(i => i.remove())")
    await oncall.get_by_label("Message (mailed at once)").fill("Should never be mailed.")
    await oncall.get_by_role("button", name="Post update").click()
    await expect(oncall.get_by_role("alert")).to_contain_text("security token is missing")
    await oncall.goto(f"{world.url}/console/incidents/{ref}")
    await expect(oncall.locator("main")).not_to_contain_text("update 1")
    assert not [m for m in world.mails() if str(m["Subject"]).endswith("update 1")]

    # Maintenance: a planned window tomorrow is refused, with the earliest allowed start.
    await oncall.get_by_role("link", name="Maintenance").click()
    await accessible(oncall)
    start = datetime.now(UTC) + timedelta(days=1)
    await oncall.get_by_label("Starts (UTC)").fill(f"{start:%Y-%m-%dT%H:%M}")
    await oncall.get_by_label("Ends (UTC)").fill(f"{start + timedelta(hours=1):%Y-%m-%dT%H:%M}")
    await oncall.get_by_label("Expected impact (mailed)").fill("Webmail restarts once.")
    await oncall.get_by_role("button", name="Announce").click()
    await expect(oncall.locator("#earliest")).to_contain_text("Earliest allowed start")
    await expect(oncall.get_by_label("Expected impact (mailed)")).to_have_value(
        "Webmail restarts once."
    )
    await accessible(oncall)
    await oncall.get_by_label("emergency (announced at once)").check()
    await oncall.get_by_role("button", name="Announce").click()
    await expect(oncall.get_by_role("status")).to_contain_text("announced")
    await world.mail(lambda s: s.endswith("maintenance announced"))

    # Signing out ends the session: the console sends the browser back to the sign-in.
    await oncall.get_by_role("button", name="Sign out").click()
    await expect(oncall.get_by_role("heading", name="Sign in")).to_be_visible()
    await accessible(oncall)
    await oncall.goto(f"{world.url}/console/incidents/{ref}")
    await expect(oncall).to_have_url(f"{world.url}/console/sign-in?next=/console/incidents/{ref}")
