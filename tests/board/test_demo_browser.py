"""What a newcomer sees after `make demo`, in a real browser (Debian's chromium, driven by
Playwright): the address it prints first opens the board, signed in with the user and password
printed beside it; the four simulated rollouts appear and move, a stall turns its row red
without a reload, and a rollout's page shows its steps and, for the demo user, its actions.
With SENTINEL_SCREENSHOTS=1 the board's screenshot becomes docs/board.png."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from browser_support import CHROMIUM, Watch
from demo_support import Demo
from playwright.async_api import Browser, Locator, Page, expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.broker,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]
ROOT = Path(__file__).resolve().parents[2]
ROLLOUTS = ["r-complete", "r-silent", "r-renamed", "r-rollback"]
# At the demo's speed (60: minutes become seconds) the first stalls come 10 s in.
WAIT_MS = 30_000


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    """`sentinel demo` as `make demo` runs it; the board's address, user and password from its
    first line."""
    running = Demo(tmp_path)
    try:
        running.start()
        running.wait_until_served()
        yield running
    finally:
        running.process.terminate()
        running.process.wait(30)


@pytest.fixture
async def tab(browser: Browser, demo: Demo) -> AsyncIterator[Page]:
    """A tab signed in as the demo user (the browser's basic-auth prompt, answered)."""
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, http_credentials=demo.credentials
    )
    page = await context.new_page()
    watch = Watch(page)
    yield page
    await context.close()
    assert watch.dialogs == []
    assert watch.errors == []


def row(tab: Page, rollout: str) -> Locator:
    return tab.locator("#groups article.rollout").filter(has=tab.locator("a.key", has_text=rollout))


async def test_the_demos_board_shows_its_rollouts_moving_and_a_stall_turning_red(
    demo: Demo, tab: Page, tmp_path: Path
) -> None:
    await tab.goto(demo.url)
    await expect(tab.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    await tab.evaluate("window.__sameDocument = true")
    group = tab.locator('section.group[data-expectation="user-service-v2"]')
    for rollout in ROLLOUTS:
        await expect(group.locator("a.key", has_text=rollout)).to_have_count(1, timeout=WAIT_MS)
    silent = row(tab, "r-silent")
    stalled = silent.locator('li.step[data-step="UserServiceV2_Running"]')
    await expect(stalled).to_have_class("step state-stalled", timeout=WAIT_MS)
    await expect(stalled).to_contain_text("stalled")
    await expect(stalled).to_contain_text("team-users")
    # The countdown runs on the sentinel's clock, read from the page; in a stall's first minute
    # it says when the step was due, never "overdue 0s".
    await expect(stalled.locator(".detail")).to_contain_text(
        re.compile(r"^due \d\d:\d\d:\d\d, nothing seen yet$")
    )
    await expect(tab.locator("#attention li", has_text="r-silent")).to_have_count(1)
    await expect(row(tab, "r-complete").locator(".badge.phase-completed")).to_have_count(1)
    await expect(tab.locator("#findings li", has_text="r-silent").first).to_be_visible()
    assert await tab.evaluate("window.__sameDocument") is True  # no reload did this
    counts = group.locator(".counts")
    await expect(counts).to_have_text("2 open, 2 with problems")
    path = tmp_path / "board.png"
    await tab.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    if os.environ.get("SENTINEL_SCREENSHOTS") == "1":
        shutil.copyfile(path, ROOT / "docs" / "board.png")

    await tab.goto(demo.url + "rollouts/user-service-v2/r-silent")
    await expect(tab.locator("h1")).to_have_text("user-service-v2 / r-silent")
    steps = tab.locator("table.steps-table tbody tr")
    await expect(steps).to_have_count(3)
    await expect(steps.nth(0)).to_contain_text("/demo/r-silent")  # the counted event's source
    await expect(steps.nth(1)).to_contain_text("stalled")
    # The demo user is an operator: the page offers the actions.
    await expect(tab.get_by_role("button", name="Acknowledge")).to_be_visible()
    await tab.screenshot(path=str(tmp_path / "rollout.png"), full_page=True)
