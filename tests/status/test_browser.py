"""The board in a real browser (Debian's chromium, driven by Playwright): it shows the
rollouts, turns a row stalled when the stream says so without a reload, shows hostile bus
data as text without running it, sends its Content-Security-Policy, fits a phone, and the
report prints to PDF."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from browser_support import CHROMIUM, Watch
from playwright.async_api import Browser, Page, expect

from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.timefmt import parse_rfc3339
from sentinel.status.assets import CONTENT_SECURITY_POLICY
from sentinel.status.period import Period
from sentinel.status.report import build_report, render_report

from .board_server import BoardServer
from .helpers import EXAMPLE_CLOCK, HOSTILE_ID, HOSTILE_KEY, Example, hostile_rollout

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]
WAIT_MS = 5000


@pytest.fixture
async def board(example: Example) -> AsyncIterator[tuple[BoardServer, str]]:
    """The example's rollouts behind a stand-in server; (its state, its base URL)."""
    server = BoardServer(list(example.expectations), EXAMPLE_CLOCK)
    for rollout in example.rollouts:
        server.put(rollout)
    server.findings = example.findings()
    runner = web.AppRunner(server.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    yield server, f"http://127.0.0.1:{port}"
    server.close_streams()
    await runner.cleanup()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[tuple[Page, Watch]]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    opened = await context.new_page()
    watch = Watch(opened)
    yield opened, watch
    await context.close()
    assert watch.dialogs == []
    assert watch.errors == []


def row(page: Page, rollout: str) -> Any:
    return page.locator("#groups article.rollout").filter(
        has=page.locator("a.key", has_text=rollout)
    )


async def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """A test artefact (docs/board.png comes from the running demo: tests/board)."""
    path = tmp_path / name
    await page.screenshot(path=str(path), full_page=True)
    return path


async def test_the_board_shows_every_open_rollout_grouped_by_expectation(
    board: tuple[BoardServer, str], page: tuple[Page, Watch], tmp_path: Path
) -> None:
    _, url = board
    tab, _ = page
    response = await tab.goto(url + "/")
    assert response is not None
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    await expect(tab.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    group = tab.locator('section.group[data-expectation="user-service-v2"]')
    await expect(group.locator("article.rollout a.key")).to_have_text(["r-1006", "r-1002"])
    stalled = row(tab, "r-1002").locator("li.step.state-stalled")
    await expect(stalled).to_contain_text("stalled")
    await expect(stalled).to_contain_text("team-users")
    await expect(stalled.locator(".detail")).to_contain_text("overdue")
    await expect(tab.locator("#attention li")).to_have_count(2)
    await expect(tab.locator("#findings li.finding")).to_have_count(12)
    assert (await screenshot(tab, tmp_path, "board.png")).stat().st_size > 10_000


async def test_a_stall_on_the_stream_turns_the_row_stalled_without_a_reload(
    board: tuple[BoardServer, str], page: tuple[Page, Watch], example: Example
) -> None:
    server, url = board
    tab, _ = page
    waiting = copy.deepcopy(example.rollout("r-1002"))
    waiting.update(rollout="r-2001", opened_at="2026-11-25T10:15:00Z", problems=[], findings=[])
    waiting["steps"][0]["seen_at"] = "2026-11-25T10:15:00Z"
    waiting["steps"][1].update(state="due", due="2026-11-25T10:25:00Z", stalled=False)
    server.put(waiting)
    await tab.goto(url + "/")
    await expect(tab.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    step = row(tab, "r-2001").locator('li.step[data-step="UserServiceV2_Running"]')
    await expect(step).to_have_class("step state-due")
    await expect(step.locator(".detail")).to_contain_text("due in")
    await tab.evaluate("window.__sameDocument = true")

    stalled = copy.deepcopy(waiting)
    stalled["problems"] = ["stall"]
    stalled["steps"][1].update(state="stalled", stalled=True)
    finding = Finding(
        Kind.STALL,
        parse_rfc3339("2026-11-25T10:25:01Z"),
        expectation="user-service-v2",
        rollout="r-2001",
        step="UserServiceV2_Running",
        owner="team-users",
        deadline=parse_rfc3339("2026-11-25T10:25:00Z"),
    ).to_json_dict()
    stalled["findings"] = [finding]
    server.put(stalled)
    server.push(finding)

    await expect(step).to_have_class("step state-stalled", timeout=WAIT_MS)
    await expect(step).to_contain_text("stalled")
    await expect(step).to_contain_text("team-users")
    await expect(row(tab, "r-2001").locator(".badge.problem-stall")).to_have_count(1)
    await expect(tab.locator("#attention li", has_text="r-2001")).to_have_count(1)
    live = tab.locator("#findings li").first
    await expect(live).to_contain_text("r-2001")
    await expect(live).to_contain_text("⚠ stall")
    await expect(live).to_contain_text("UserServiceV2_Running expected by 10:25:00; nothing seen")
    assert await tab.evaluate("window.__sameDocument") is True
    # The script words the finding as the server does (sentinel.core.engine.kinds), to the
    # character.
    scripted = await live.inner_html()
    await tab.reload()
    assert await tab.locator("#findings li").first.inner_html() == scripted


async def test_the_rollout_page_shows_its_steps_graph_and_timeline(
    board: tuple[BoardServer, str], page: tuple[Page, Watch], tmp_path: Path
) -> None:
    _, url = board
    tab, _ = page
    await tab.goto(url + "/rollouts/user-service-v2/r-1002")
    await expect(tab.locator("h1")).to_have_text("user-service-v2 / r-1002")
    table = tab.locator("table.steps-table tbody tr")
    await expect(table).to_have_count(3)
    await expect(table.nth(0)).to_contain_text("e-02")
    await expect(table.nth(1)).to_contain_text("stalled")
    nodes = tab.locator("svg.graph g.node")
    await expect(nodes).to_have_count(5)  # three steps, a compensation's trigger and expect
    await expect(nodes.nth(1)).to_have_class("node state-stalled")
    await expect(tab.locator("ol.timeline li")).to_have_count(2)
    await screenshot(tab, tmp_path, "rollout.png")


async def test_a_hostile_rollout_key_renders_as_text_and_runs_nothing(
    board: tuple[BoardServer, str], page: tuple[Page, Watch]
) -> None:
    server, url = board
    tab, watch = page
    rollout, exp, _ = hostile_rollout()
    server.expectations.append(exp)
    server.put(rollout)
    await tab.goto(url + "/")
    await expect(tab.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    await expect(tab.locator("a.key", has_text=HOSTILE_KEY)).to_have_count(1)
    # Through the script's path too: a finding re-renders the row from the API's JSON.
    server.push(
        Finding(
            Kind.UNREGISTERED_EVENT,
            EXAMPLE_CLOCK,
            expectation="hostile",
            rollout=HOSTILE_KEY,
            event_type="<img src=z onerror=alert(4)>",
            event_id=HOSTILE_ID,
        ).to_json_dict()
    )
    await expect(tab.locator("#findings li").first).to_contain_text("onerror=alert(4)")
    await expect(tab.locator("article.rollout.flash a.key")).to_have_text(HOSTILE_KEY)
    await tab.goto(url + "/rollouts/hostile/" + "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E")
    await expect(tab.locator("h1 .key")).to_have_text(HOSTILE_KEY)
    await expect(tab.locator("table.steps-table")).to_contain_text(HOSTILE_ID)
    assert await tab.locator("main img, main script, main i, main b").count() == 0
    assert await tab.evaluate("typeof window.__xss") == "undefined"
    assert watch.dialogs == []


async def test_the_board_fits_a_phone_and_is_keyboard_navigable(
    board: tuple[BoardServer, str], browser: Browser, tmp_path: Path
) -> None:
    _, url = board
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    tab = await context.new_page()
    await tab.goto(url + "/")
    width = await tab.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    await tab.keyboard.press("Tab")
    assert await tab.evaluate("document.activeElement.textContent") == "Skip to content"
    await tab.keyboard.press("Tab")
    assert await tab.evaluate("document.activeElement.textContent") == "Rollout sentinel"
    await screenshot(tab, tmp_path, "board-phone.png")
    await context.close()


async def test_the_html_report_prints_to_a_pdf(
    browser: Browser, example: Example, tmp_path: Path
) -> None:
    html = render_report(build_report(example.rollouts, Period()), "html")
    context = await browser.new_context()
    tab = await context.new_page()
    await tab.set_content(html)
    pdf = await tab.pdf(format="A4", print_background=True)
    await context.close()
    (tmp_path / "report.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
    assert 20_000 < len(pdf) < 5_000_000
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page>") + pdf.count(b"/Type/Page") > 0
