"""The large estate in chromium: a platform of 600 services shows one strip of bars per
protocol and a state per service, usable by keyboard and at phone width, and the overview of
230 platforms pages on; axe-core finds no serious or critical violation on either."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Browser, expect

from .test_browser import accessible, both_widths
from .test_status_scale import web_of

pytestmark = pytest.mark.real
__all__ = ["web_of"]  # the fixture, shared with the cost tests


async def test_a_platform_of_600_services_in_the_browser(browser: Browser, web_of: Any) -> None:
    client, _, _ = await web_of(1, per_platform=600)
    page = await browser.new_page()
    await page.goto(str(client.make_url("/status/p0000")))
    group = page.locator(".service", has=page.get_by_role("heading", name="IMAP (600 services)"))
    await expect(group.locator(".bar")).to_have_count(90)
    each = page.get_by_role("list", name="Each service")
    await expect(each.locator("li")).to_have_count(600)
    await expect(each.locator("li").nth(42)).to_contain_text("Mailbox s0042")
    # The group's strip is one tab stop, on today; the arrow keys move between days.
    await page.locator("h1").click()
    for _ in range(30):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.classList.contains('bar')"):
            break
    today = await group.locator(".bar").last.get_attribute("aria-label")
    assert await page.evaluate("document.activeElement.getAttribute('aria-label')") == today
    await accessible(page)
    await both_widths(page, "status-page-600-services")


async def test_the_overview_of_230_platforms_in_the_browser(browser: Browser, web_of: Any) -> None:
    client, _, _ = await web_of(230)
    page = await browser.new_page()
    await page.goto(str(client.make_url("/status")))
    await expect(page.get_by_text("Platforms 1 to 100 of 230.")).to_be_visible()
    await accessible(page)
    await both_widths(page, "status-overview-230-platforms")
    await page.get_by_role("link", name="Next platforms").click()
    await expect(page.get_by_text("Platforms 101 to 200 of 230.")).to_be_visible()
    await expect(page.get_by_role("link", name="Platform 150", exact=True)).to_be_visible()
