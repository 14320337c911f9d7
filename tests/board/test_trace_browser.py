"""Links to traces on the board, in a real browser (Debian's chromium) against the real server
holding the example log (contract section 13): with `tracing.trace_url`, each rollout row links
its trace (also a row the script draws from the stream), the rollout page links the trace and
each step's span, and a link opens in a new tab; without it, the page shows the trace id to
paste, and links nothing. Hostile keys stay text inside percent-encoded links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest
from browser_support import CHROMIUM, Watch
from playwright.async_api import Browser, Page, Route, expect
from status.helpers import (
    EXAMPLE_CLOCK,
    HOSTILE_KEY,
    HOSTILE_STEP,
    hostile_expectation,
    hostile_start,
)

from sentinel.core.engine.tracing import TraceOptions, root_span_id, step_span_id, trace_id_of
from sentinel.core.events.envelope import Envelope
from sentinel.core.timefmt import parse_rfc3339

from .conftest import NAME, StartExample
from .server import Sentinel, get

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]
WAIT_MS = 5000
TEMPO = "https://tempo.example"
TEMPLATE = TEMPO + "/trace/{trace_id}?span={span_id}&rollout={rollout}&step={step}"


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[tuple[Page, Watch]]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    opened = await context.new_page()
    watch = Watch(opened)
    yield opened, watch
    await context.close()
    assert watch.dialogs == []
    assert watch.errors == []  # a CSP refusal is logged as an error


async def traced(start_example: StartExample) -> Sentinel:
    return await start_example(hostile_expectation(), tracing=TraceOptions(url=TEMPLATE))


async def test_each_rollout_on_the_board_links_its_trace_also_when_the_script_draws_it(
    start_example: StartExample, page: tuple[Page, Watch], tmp_path: Path
) -> None:
    board = await traced(start_example)
    tab, _ = page
    await tab.goto(board.url + "/")
    await expect(tab.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    _, listed, _ = await get(board.url, "/api/v1/rollouts")
    rows = tab.locator("#groups article.rollout")
    await expect(rows).to_have_count(len(listed["rollouts"]))
    for summary in listed["rollouts"]:
        row = rows.filter(has=tab.locator("a.key", has_text=summary["rollout"]))
        await expect(row.locator("a.trace-link")).to_have_attribute("href", summary["trace_url"])
    # A rollout opened while the board is open: its row is drawn by the script, from the
    # summary on the stream, with the same link.
    opened = parse_rfc3339("2026-11-25T10:15:00Z")
    board.events([_user_service("SchemaV2_Ready", "r-2001", "e-2001", opened)], EXAMPLE_CLOCK)
    fresh = rows.filter(has=tab.locator("a.key", has_text="r-2001")).locator("a.trace-link")
    trace = trace_id_of(NAME, "r-2001", opened)
    expected = f"{TEMPO}/trace/{trace}?span={root_span_id(trace)}&rollout=r-2001&step="
    await expect(fresh).to_have_attribute("href", expected, timeout=WAIT_MS)
    assert await fresh.get_attribute("target") == "_blank"
    assert await fresh.get_attribute("rel") == "noopener noreferrer"
    await expect(fresh).to_have_accessible_name("Trace of r-2001")
    path = tmp_path / "board-trace.png"
    await tab.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


async def test_the_rollout_page_links_the_trace_and_each_steps_span_in_a_new_tab(
    start_example: StartExample, page: tuple[Page, Watch], tmp_path: Path
) -> None:
    board = await traced(start_example)
    tab, _ = page
    _, full, _ = await get(board.url, f"/api/v1/rollouts/{NAME}/r-1002")
    await tab.goto(board.url + f"/rollouts/{NAME}/r-1002")
    fact = tab.locator(".facts div", has=tab.locator("dt", has_text="Trace"))
    await expect(fact.locator("a.trace-link")).to_have_attribute("href", full["trace_url"])
    await expect(fact.locator("a.trace-link")).to_have_text("Open trace ↗")
    await expect(fact.locator("code.trace-id")).to_have_text(full["trace_id"])
    table = tab.locator("table.steps-table")
    await expect(table.locator("thead th").last).to_have_text("Trace")
    links = table.locator("tbody a.trace-link")
    await expect(links).to_have_count(len(full["steps"]))
    for index, step in enumerate(full["steps"]):
        await expect(links.nth(index)).to_have_attribute("href", step["trace_url"])
        span = step_span_id(full["trace_id"], step["step"])
        assert f"span={span}&" in step["trace_url"]
        await expect(links.nth(index)).to_have_accessible_name(f"Open {step['step']} in the trace")
    path = tmp_path / "rollout-trace.png"
    await tab.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    # On a phone the trace id wraps and the table scrolls in its own box: the page does not.
    await tab.set_viewport_size({"width": 390, "height": 844})
    assert await tab.evaluate("document.documentElement.scrollWidth") <= 390
    phone = tmp_path / "rollout-trace-phone.png"
    await tab.screenshot(path=str(phone), full_page=True)
    print(f"screenshot: {phone}")
    await tab.set_viewport_size({"width": 1280, "height": 900})

    # Clicked, the link opens the tracing UI in a tab of its own; the page stays.
    async def tracing_ui(route: Route) -> None:
        await route.fulfill(status=200, content_type="text/html", body="<title>Tempo</title>")

    await tab.context.route(TEMPO + "/**", tracing_ui)
    async with tab.context.expect_page() as opening:
        await fact.locator("a.trace-link").click()
    ui = await opening.value
    await ui.wait_for_load_state()
    assert ui.url == full["trace_url"]
    assert tab.url == board.url + f"/rollouts/{NAME}/r-1002"


async def test_without_a_template_the_page_shows_the_trace_id_and_links_nothing(
    start_example: StartExample, page: tuple[Page, Watch], tmp_path: Path
) -> None:
    board = await start_example()
    tab, _ = page
    await tab.goto(board.url + f"/rollouts/{NAME}/r-1002")
    trace = trace_id_of(NAME, "r-1002", parse_rfc3339("2026-11-25T10:01:00Z"))
    _, full, _ = await get(board.url, f"/api/v1/rollouts/{NAME}/r-1002")
    assert full["trace_id"] == trace  # opened by its first event, at 10:01
    await expect(tab.locator(".facts code.trace-id")).to_have_text(trace)
    assert await tab.locator("a.trace-link").count() == 0
    assert await tab.locator("table.steps-table thead th").all_text_contents() == [
        "Step", "State", "Due", "Seen", "Event id", "Source", "Owner",
    ]  # fmt: skip
    path = tmp_path / "rollout-untraced.png"
    await tab.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    await tab.goto(board.url + "/")
    await expect(tab.locator("#groups article.rollout").first).to_be_visible()
    assert await tab.locator("a.trace-link").count() == 0


async def test_a_hostile_rollouts_links_are_percent_encoded_and_its_names_stay_text(
    start_example: StartExample, page: tuple[Page, Watch]
) -> None:
    board = await traced(start_example)
    tab, watch = page
    board.events([hostile_start(EXAMPLE_CLOCK)], EXAMPLE_CLOCK)
    await tab.goto(board.url + "/rollouts/hostile/" + quote(HOSTILE_KEY, safe=""))
    await expect(tab.locator("h1 .key")).to_have_text(HOSTILE_KEY)
    links = tab.locator("a.trace-link")
    await expect(links).to_have_count(4)  # the rollout's and its three steps'
    hrefs = [await link.get_attribute("href") or "" for link in await links.all()]
    assert all(href.startswith(TEMPO + "/trace/") for href in hrefs)
    assert all(f"rollout={quote(HOSTILE_KEY, safe='')}&" in href for href in hrefs)
    assert any(f"step={quote(HOSTILE_STEP, safe='')}" in href for href in hrefs)
    assert await tab.locator("main img, main script, main i, main b").count() == 0
    assert await tab.evaluate("typeof window.__xss") == "undefined"
    assert watch.dialogs == []


def _user_service(event_type: str, rollout: str, event_id: str, at: float) -> Envelope:
    """An event of the example's user-service-v2 rollouts, valid against its schema."""
    data = {"rollout_id": rollout, "schema_version": "2.0", "migration_id": "m-2041"}
    return Envelope(event_type, event_id, f"/deploy/{rollout}", at, data)
