"""A real browser for the web tests: Debian's chromium driven by Playwright, and axe-core.

Playwright cannot download its own browser on these machines, so it launches the system's
chromium; without one the tests skip locally and fail under OUTAGEWATCH_REQUIRE_REAL=1.
axe-core 4.14.1 (npm ``axe-core``, MPL-2.0) is vendored beside this file as test data."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from ..conftest import missing_real

CHROMIUM = os.environ.get("OUTAGEWATCH_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
AXE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text()
# Screenshots are test artefacts: kept after the run, ignored by git (.gitignore).
ARTEFACTS = Path(__file__).parents[2] / "artefacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if shutil.which(CHROMIUM) is None:
        missing_real(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def serious_violations(page: Page) -> list[str]:
    """axe-core on the page as it is; the serious and critical violations, one line each.

    Evaluated through the DevTools protocol, which the page's Content-Security-Policy
    (script-src 'self') does not govern, so the page is checked with its real CSP on."""
    if not await page.evaluate("typeof axe !== 'undefined'"):
        await page.evaluate(AXE)
    result: dict[str, Any] = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + json.dumps([n["target"] for n in v["nodes"]][:3])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def screenshot(page: Page, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
