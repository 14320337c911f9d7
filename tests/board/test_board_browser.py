"""The board in a real browser (Debian's chromium, driven by Playwright), served by the
sentinel's own HTTP server over a real engine, store and pipeline that replayed the shipped
example log: it shows the rollouts, turns a row stalled when a real stall reaches the stream
without a reload, shows hostile bus data as text without running it, sends the server's
security headers (a Content-Security-Policy that the page's own script and style live under),
and fits a phone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from browser_support import CHROMIUM, Watch
from engine.helpers import MIN
from playwright.async_api import Browser, Locator, Page, Response, expect
from status.helpers import (
    EXAMPLE_CLOCK,
    HOSTILE_ID,
    HOSTILE_KEY,
    HOSTILE_SOURCE,
    HOSTILE_STEP,
    hostile_expectation,
    hostile_start,
)

from sentinel.core.engine.findings import Kind
from sentinel.core.events.envelope import Envelope
from sentinel.core.timefmt import parse_rfc3339
from sentinel.status.assets import SECURITY_HEADERS

from .conftest import StartExample
from .server import Sentinel

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]
WAIT_MS = 5000


@pytest.fixture
async def board(start_example: StartExample) -> Sentinel:
    """The real server holding the example log's rollouts and findings, at EXAMPLE_CLOCK."""
    return await start_example()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[tuple[Page, Watch]]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    opened = await context.new_page()
    watch = Watch(opened)
    yield opened, watch
    await context.close()
    assert watch.dialogs == []
    assert watch.errors == []  # a CSP refusal is logged as an error


def row(page: Page, rollout: str) -> Locator:
    return page.locator("#groups article.rollout").filter(
        has=page.locator("a.key", has_text=rollout)
    )


async def live(tab: Page) -> None:
    """The page listens to the server's stream."""
    await expect(tab.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)


async def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """A test artefact (docs/board.png comes from the running demo: test_demo_browser)."""
    path = tmp_path / name
    await page.screenshot(path=str(path), full_page=True)
    return path


async def test_the_board_shows_every_open_rollout_grouped_by_expectation(
    board: Sentinel, page: tuple[Page, Watch], tmp_path: Path
) -> None:
    tab, _ = page
    answers: list[Response] = []

    def keep(answer: Response) -> None:
        answers.append(answer)

    tab.on("response", keep)
    await tab.goto(board.url + "/")
    await live(tab)
    group = tab.locator('section.group[data-expectation="user-service-v2"]')
    await expect(group.locator("article.rollout a.key")).to_have_text(["r-1006", "r-1002"])
    stalled = row(tab, "r-1002").locator("li.step.state-stalled")
    await expect(stalled).to_contain_text("stalled")
    await expect(stalled).to_contain_text("team-users")
    await expect(stalled.locator(".detail")).to_contain_text("overdue")
    await expect(tab.locator("#attention li")).to_have_count(2)
    # Every finding the replay raised, newest first: the stand-in showed only the 12 that
    # name a rollout, the real feed also keeps the log's malformed lines, its unregistered
    # type and its uncorrelated event.
    recent = board.feed.recent.newest(100, None)
    assert len(recent) == 16
    await expect(tab.locator("#findings li.finding")).to_have_count(len(recent))
    await expect(tab.locator("#findings li.finding").first).to_contain_text("r-1005")
    assert (await screenshot(tab, tmp_path, "board.png")).stat().st_size > 10_000
    # The page, its script and style and the stream, each with the server's own headers
    # (sentinel.web.access), under which the page above ran without a refusal.
    paths = {answer.url.removeprefix(board.url) for answer in answers}
    assert {"/", "/static/board.css", "/static/board.js", "/api/v1/stream"} <= paths
    for answer in answers:
        headers = await answer.all_headers()
        for name, value in SECURITY_HEADERS.items():
            assert headers.get(name.lower()) == value, (answer.url, name)


async def test_a_stall_on_the_stream_turns_the_row_stalled_without_a_reload(
    board: Sentinel, page: tuple[Page, Watch]
) -> None:
    tab, _ = page
    await tab.goto(board.url + "/")
    await live(tab)
    await tab.evaluate("window.__sameDocument = true")
    # A rollout opens while the board is open: it joins the page from the stream (`rollout`).
    opened = parse_rfc3339("2026-11-25T10:15:00Z")
    board.events([_user_service("SchemaV2_Ready", "r-2001", "e-2001", opened)], EXAMPLE_CLOCK)
    step = row(tab, "r-2001").locator('li.step[data-step="UserServiceV2_Running"]')
    await expect(step).to_have_class("step state-due", timeout=WAIT_MS)
    await expect(step.locator(".detail")).to_contain_text("due in")

    # The wall clock passes the step's due time (10:25) with nothing read: the engine raises
    # the stall, the batch is kept, and the stream carries it.
    raised = board.advance(parse_rfc3339("2026-11-25T10:25:01Z"))
    assert [(finding.kind, finding.rollout) for finding in raised] == [(Kind.STALL, "r-2001")]

    await expect(step).to_have_class("step state-stalled", timeout=WAIT_MS)
    await expect(step).to_contain_text("stalled")
    await expect(step).to_contain_text("team-users")
    await expect(row(tab, "r-2001").locator(".badge.problem-stall")).to_have_count(1)
    await expect(tab.locator("#attention li", has_text="r-2001")).to_have_count(1)
    newest = tab.locator("#findings li").first
    await expect(newest).to_contain_text("r-2001")
    await expect(newest).to_contain_text("⚠ stall")
    await expect(newest).to_contain_text("UserServiceV2_Running expected by 10:25:00; nothing seen")
    assert await tab.evaluate("window.__sameDocument") is True
    # The script words the finding as the server does (sentinel.core.engine.kinds), to the
    # character.
    scripted = await newest.inner_html()
    await tab.reload()
    assert await tab.locator("#findings li").first.inner_html() == scripted


async def test_the_rollout_page_shows_its_steps_graph_and_timeline(
    board: Sentinel, page: tuple[Page, Watch], tmp_path: Path
) -> None:
    tab, _ = page
    await tab.goto(board.url + "/rollouts/user-service-v2/r-1002")
    await expect(tab.locator("h1")).to_have_text("user-service-v2 / r-1002")
    table = tab.locator("table.steps-table tbody tr")
    await expect(table).to_have_count(3)
    await expect(table.nth(0)).to_contain_text("e-02")  # the counted event's id and source
    await expect(table.nth(0)).to_contain_text("/deploy/r-1002")
    await expect(table.nth(1)).to_contain_text("stalled")
    nodes = tab.locator("svg.graph g.node")
    await expect(nodes).to_have_count(5)  # three steps, a compensation's trigger and expect
    await expect(nodes.nth(1)).to_have_class("node state-stalled")
    await expect(tab.locator("ol.timeline li")).to_have_count(2)
    await screenshot(tab, tmp_path, "rollout.png")


async def test_a_hostile_rollout_key_renders_as_text_and_runs_nothing(
    start_example: StartExample, page: tuple[Page, Watch], tmp_path: Path
) -> None:
    board = await start_example(hostile_expectation())
    tab, watch = page
    # Its key, event id and source are markup; its type has no schema (an unregistered
    # event, whose finding shows the id too).
    board.events([hostile_start(EXAMPLE_CLOCK)], EXAMPLE_CLOCK)
    await tab.goto(board.url + "/")
    await live(tab)
    await expect(tab.locator("a.key", has_text=HOSTILE_KEY)).to_have_count(1)
    # Through the script's path too: a minute later the markup-named step stalls, and an event
    # of a markup type arrives; the stall re-renders the row from the API's JSON.
    later = EXAMPLE_CLOCK + MIN + 1
    typed = Envelope("<img src=z onerror=alert(4)>", "h-2", HOSTILE_SOURCE, later, {"k": 1})
    raised = board.events([typed], later)
    assert {finding.kind for finding in raised} == {Kind.UNREGISTERED_EVENT, Kind.STALL}
    findings = tab.locator("#findings li")
    await expect(findings.filter(has_text="onerror=alert(4)")).to_have_count(1, timeout=WAIT_MS)
    await expect(findings.filter(has_text=HOSTILE_STEP)).to_have_count(1)
    # Re-rendered by the script (its `flash` class is too brief to wait for on a busy machine):
    # the row's stalled step only comes through that path.
    hostile_row = row(tab, HOSTILE_KEY)
    await expect(hostile_row.locator("li.step.state-stalled")).to_contain_text(HOSTILE_STEP)
    assert await tab.locator("main img, main script, main svg, main i, main b").count() == 0
    await screenshot(tab, tmp_path, "board-hostile.png")

    await tab.goto(board.url + "/rollouts/hostile/" + quote(HOSTILE_KEY, safe=""))
    await expect(tab.locator("h1 .key")).to_have_text(HOSTILE_KEY)
    await expect(tab.locator("table.steps-table")).to_contain_text(HOSTILE_ID)
    await expect(tab.locator("table.steps-table")).to_contain_text(HOSTILE_SOURCE)
    assert await tab.locator("main img, main script, main i, main b").count() == 0
    assert await tab.evaluate("typeof window.__xss") == "undefined"
    assert watch.dialogs == []


async def test_the_board_fits_a_phone_and_is_keyboard_navigable(
    board: Sentinel, browser: Browser, tmp_path: Path
) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    tab = await context.new_page()
    watch = Watch(tab)
    await tab.goto(board.url + "/")
    await live(tab)
    width = await tab.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    await tab.keyboard.press("Tab")
    assert await tab.evaluate("document.activeElement.textContent") == "Skip to content"
    await tab.keyboard.press("Tab")
    assert await tab.evaluate("document.activeElement.textContent") == "Rollout sentinel"
    await screenshot(tab, tmp_path, "board-phone.png")
    await context.close()
    assert watch.errors == []


def _user_service(event_type: str, rollout: str, event_id: str, at: float) -> Envelope:
    """An event of the example's user-service-v2 rollouts, valid against its schema."""
    data = {"rollout_id": rollout, "schema_version": "2.0", "migration_id": "m-2041"}
    return Envelope(event_type, event_id, f"/deploy/{rollout}", at, data)
