"""On-call acts from the board, in a real browser (Debian's chromium, driven by Playwright)
against the sentinel's own HTTP server with basic auth for two users, over a real engine,
store and pipeline holding the shipped example log (contract section 14, "From the board"):
alice, an operator, acknowledges, snoozes, adds a note and abandons from a rollout's page, and
each shows there, on the board and after a reload; bob, a viewer of the same sentinel, sees
the history and no button; a request without the page's token or its session cookie, with the
token of another session, from another origin or for a rollout that does not exist is
refused and changes nothing; a click on one replica's page reaches the replica that owns the
rollout; a hostile rollout key and note stay text and still reach their rollout.
Screenshots go to the test's tmp_path (printed with `-s`); with SENTINEL_SCREENSHOTS=1 the
operator's page becomes docs/board-actions.png."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from browser_support import CHROMIUM, Watch
from engine.helpers import MIN, T0, event
from playwright.async_api import Browser, Page, expect
from status.helpers import (
    EXAMPLE_CLOCK,
    EXAMPLE_LOG,
    HOSTILE_KEY,
    ROOT,
    hostile_expectation,
    hostile_start,
)

from sentinel.config import BasicAuth, BasicAuthUser
from sentinel.core.engine.actions import Action, Verb
from sentinel.core.events.decoders import LineDecoder
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.rules.expectations import Expectation
from sentinel.core.rules.loader import load_expectations
from sentinel.web.http import serve

from .conftest import NAME, StartSentinel
from .server import Sentinel, get
from .test_peers import free_ports

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]
WAIT_MS = 5000
PASSWORDS = {"alice": "s3cret:board", "bob": "bob's own"}
# Both users of every sentinel here: alice may act (http.operators), bob only reads.
USERS = BasicAuth(users=tuple(BasicAuthUser(name, word) for name, word in PASSWORDS.items()))
OPERATORS = ("alice",)
ROLLOUT = "r-1002"  # stalled in the example log: UserServiceV2_Running, team-users
PAGE = f"/rollouts/{NAME}/{ROLLOUT}"
ACTIONS = f"/api/v1/rollouts/{NAME}/{ROLLOUT}/actions"
# What a hostile note would be if it were markup: it must stay text.
NOTE = "<b>paged</b> team-users; rolling back by hand if not up by 11:00"


def example(*extra: Expectation) -> Sentinel:
    """The example log's rollouts behind basic auth for alice (an operator) and bob (a
    viewer); `extra` expectations beside the example's."""
    loaded = load_expectations([ROOT / "expectations"])
    sentinel = Sentinel(
        [*loaded.expectations, *extra],
        decoder=LineDecoder(),
        schemas=SchemaRegistry.load(ROOT / "expectations" / "schemas"),
        wall_clock=EXAMPLE_CLOCK,
        basic_auth=USERS,
        operators=OPERATORS,
    )
    sentinel.replay(EXAMPLE_LOG.read_bytes().splitlines(), until=EXAMPLE_CLOCK)
    return sentinel


@pytest.fixture
async def started() -> AsyncIterator[list[Sentinel]]:
    """Sentinels a test starts (`example(...)` then `await start(...)`), stopped after it."""
    running: list[Sentinel] = []
    yield running
    for sentinel in running:
        await sentinel.stop()


async def start(started: list[Sentinel], *extra: Expectation) -> Sentinel:
    sentinel = await example(*extra).start()
    started.append(sentinel)
    return sentinel


async def tab_as(browser: Browser, user: str, width: int = 1280) -> tuple[Page, Watch]:
    context = await browser.new_context(
        viewport={"width": width, "height": 900},
        http_credentials={"username": user, "password": PASSWORDS[user]},
    )
    tab = await context.new_page()
    return tab, Watch(tab)


def authorization(user: str) -> dict[str, str]:
    pair = f"{user}:{PASSWORDS[user]}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


async def rollout_json(sentinel: Sentinel, user: str) -> dict[str, Any]:
    path = f"/api/v1/rollouts/{NAME}/{ROLLOUT}"
    status, body, _ = await get(sentinel.url, path, headers=authorization(user))
    assert status == 200, body
    return dict(body)


async def live(tab: Page) -> None:
    await expect(tab.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)


async def shot(tab: Page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    await tab.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


async def post_from_page(tab: Page, path: str, body: dict[str, Any], token: str | None) -> Any:
    """A POST made by script in the page (same origin, the user's credentials): status and
    body, as a forger with the page open would send it."""
    return await tab.evaluate(
        """async ([path, body, token]) => {
            const headers = {"Content-Type": "application/json"};
            if (token !== null) headers["X-Sentinel-Token"] = token;
            const answer = await fetch(path, {method: "POST", headers, body: JSON.stringify(body)});
            return [answer.status, await answer.json()];
        }""",
        [path, body, token],
    )


def not_network_refusals(watch: Watch) -> list[str]:
    """The page's errors but the console's line for each refused request (a 403 or 404 the
    test asked for)."""
    return [error for error in watch.errors if "Failed to load resource" not in error]


async def test_an_operator_acknowledges_snoozes_notes_and_abandons_and_each_stays(
    started: list[Sentinel], browser: Browser, tmp_path: Path
) -> None:
    sentinel = await start(started)
    tab, watch = await tab_as(browser, "alice")
    await tab.goto(sentinel.url + PAGE)
    await live(tab)
    history = tab.locator("#action-list")
    status = tab.locator("#act-status")
    await expect(history).to_have_text("Nobody has acted on this rollout yet.")

    await tab.get_by_role("button", name="Acknowledge").click()
    await expect(status).to_have_text("Acknowledged: its open problems are not told again.")
    await expect(history.locator("li.action")).to_have_count(1)
    await expect(history.locator("li.action").nth(0)).to_contain_text("☑ acknowledged")
    await expect(history.locator("li.action").nth(0)).to_contain_text("by alice via board")
    await expect(tab.locator("#acted-now")).to_have_text("☑ ack by alice", timeout=WAIT_MS)

    await tab.get_by_role("button", name="Snooze 4h").click()
    await expect(status).to_have_text("Snoozed.")
    snoozed = history.locator("li.action").nth(1)
    await expect(snoozed).to_contain_text("☾ snoozed")
    await expect(snoozed).to_contain_text("until 14:21:00")  # 4h after the clock, 10:21
    await expect(tab.locator("#acted-now")).to_contain_text("snoozed until 14:21:00")

    await tab.get_by_role("button", name="Add note").click()
    await expect(status).to_have_text("Write the note first.")
    await tab.get_by_label("Note", exact=True).fill(NOTE)
    await tab.get_by_role("button", name="Add note").click()
    await expect(status).to_have_text("Note added.")
    await expect(history.locator("li.action").nth(2).locator("q.note")).to_have_text(NOTE)
    await expect(tab.get_by_label("Note", exact=True)).to_have_value("")
    assert await tab.locator("main b").count() == 0  # the note is text

    full = await rollout_json(sentinel, "alice")
    assert [action["verb"] for action in full["actions"]] == ["acknowledge", "snooze", "note"]
    assert {action["by"] for action in full["actions"]} == {"alice"}
    assert full["acknowledged_by"] == "alice"
    assert full["snoozed_until"] == "2026-11-25T14:21:00Z"

    await tab.reload()
    await live(tab)
    await expect(history.locator("li.action")).to_have_count(3)
    await expect(history.locator("li.action").nth(2).locator("q.note")).to_have_text(NOTE)
    await expect(tab.locator("ol.timeline")).to_contain_text("by alice until 14:21:00")
    await shot(tab, tmp_path, "actions-operator.png")
    if os.environ.get("SENTINEL_SCREENSHOTS") == "1":  # the picture of docs/status.md
        await tab.set_viewport_size({"width": 1100, "height": 700})
        await tab.screenshot(path=str(ROOT / "docs" / "board-actions.png"))
        await tab.set_viewport_size({"width": 1280, "height": 900})

    # The board's row and its "Needs attention" line say so too.
    await tab.goto(sentinel.url + "/")
    await live(tab)
    row = tab.locator("#groups article.rollout").filter(has=tab.locator("a.key", has_text=ROLLOUT))
    await expect(row.locator(".acted.acked")).to_have_text("☑ ack by alice")
    await expect(row.locator(".acted.snoozed")).to_have_text("☾ snoozed until 14:21:00")
    attention = tab.locator("#attention li", has_text=ROLLOUT)
    await expect(attention).to_contain_text("ack by alice")
    await shot(tab, tmp_path, "actions-board.png")

    # On a phone, the board's chips and the page with the abandon step open: nothing wider
    # than the screen.
    await tab.set_viewport_size({"width": 390, "height": 844})
    await expect(row.locator(".acted.snoozed")).to_be_visible()
    assert await tab.evaluate("document.documentElement.scrollWidth") <= 390
    await shot(tab, tmp_path, "actions-board-phone.png")
    await tab.goto(sentinel.url + PAGE)
    await live(tab)
    await tab.locator("details.act-abandon summary").click()
    assert await tab.evaluate("document.documentElement.scrollWidth") <= 390
    await shot(tab, tmp_path, "actions-phone.png")
    await tab.set_viewport_size({"width": 1280, "height": 900})

    # Abandon: a confirm step and a reason, then the rollout is closed.
    abandon = tab.get_by_role("button", name=f"Abandon {ROLLOUT}")
    await abandon.click()
    await expect(status).to_have_text("Say why the rollout is abandoned first.")
    await tab.get_by_label("Why").fill("superseded by r-1006")
    async with tab.expect_navigation():
        await abandon.click()
    await expect(tab.locator(".facts .badge.phase-abandoned")).to_have_text("⊘ abandoned")
    await expect(tab.locator("#act")).to_have_count(0)
    await expect(tab.locator("button[data-verb]")).to_have_count(0)
    await expect(history.locator("li.action")).to_have_count(4)
    await expect(history.locator("li.action").nth(3)).to_contain_text("✕ abandoned")
    await expect(history.locator("li.action").nth(3)).to_contain_text("superseded by r-1006")
    await expect(tab.locator("ol.timeline")).to_contain_text(
        "called off by alice on the board: superseded by r-1006"
    )
    full = await rollout_json(sentinel, "alice")
    assert full["phase"] == "abandoned"
    assert full["closed_at"] == "2026-11-25T10:21:00Z"
    assert [finding["kind"] for finding in full["findings"]][-1] == "abandoned"
    await tab.reload()
    await expect(tab.locator(".facts .badge.phase-abandoned")).to_be_visible()
    await expect(history.locator("li.action")).to_have_count(4)
    await shot(tab, tmp_path, "actions-abandoned.png")
    # Not on the board of open rollouts any more; in the closed ones.
    await tab.goto(sentinel.url + "/")
    await expect(tab.locator("#groups a.key", has_text=ROLLOUT)).to_have_count(0)
    await tab.goto(sentinel.url + "/?phase=closed")
    await expect(tab.locator("#groups a.key", has_text=ROLLOUT)).to_have_count(1)
    await tab.context.close()
    assert watch.dialogs == []
    assert watch.errors == []


async def test_a_viewer_sees_the_history_and_no_button_and_a_forged_post_changes_nothing(
    started: list[Sentinel], browser: Browser, tmp_path: Path
) -> None:
    sentinel = await start(started)  # bob signs in; alice, of the same sentinel, may act
    note = Action(Verb.NOTE, "alice", EXAMPLE_CLOCK, "board", note=NOTE)
    assert (await sentinel.act(NAME, ROLLOUT, note)).applied
    tab, watch = await tab_as(browser, "bob")
    await tab.clock.install()  # the page's clock, moved on below
    await tab.goto(sentinel.url + PAGE)
    await live(tab)
    await expect(tab.locator("#action-list li.action q.note")).to_have_text(NOTE)
    await expect(tab.locator("#actions")).to_contain_text(
        "Signed in as bob: only the operators of http.operators can act on a rollout."
    )
    await expect(tab.locator("#actions button")).to_have_count(0)
    assert await tab.locator("#actions").get_attribute("data-token") is None
    await shot(tab, tmp_path, "actions-viewer.png")

    # alice's page on the same sentinel has the buttons and her token.
    alice, alice_watch = await tab_as(browser, "alice")
    await alice.goto(sentinel.url + PAGE)
    await expect(alice.get_by_role("button", name="Acknowledge")).to_be_visible()
    alices_token = await alice.locator("#actions").get_attribute("data-token")
    assert alices_token
    await alice.context.close()
    assert alice_watch.errors == []

    # A viewer's script posts anyway: without a token, with one made up, and with alice's.
    status, body = await post_from_page(tab, ACTIONS, {"verb": "acknowledge"}, None)
    assert (status, body["error"]) == (403, "only the users of http.operators may act on rollouts")
    for token in ("0" * 64, alices_token):
        status, _ = await post_from_page(tab, ACTIONS, {"verb": "abandon", "note": "x"}, token)
        assert status == 403
    full = await rollout_json(sentinel, "bob")
    assert (full["phase"], len(full["actions"])) == ("open", 1)

    # alice acts elsewhere (Slack, her own page): bob's page shows it from the stream.
    ack = Action(Verb.ACKNOWLEDGE, "alice", EXAMPLE_CLOCK, "slack")
    snooze = Action(Verb.SNOOZE, "alice", EXAMPLE_CLOCK, "slack", until=EXAMPLE_CLOCK + 3600)
    assert (await sentinel.act(NAME, ROLLOUT, ack)).applied
    assert (await sentinel.act(NAME, ROLLOUT, snooze)).applied
    await expect(tab.locator("#action-list li.action")).to_have_count(3, timeout=WAIT_MS)
    await expect(tab.locator("#action-list li.action").nth(1)).to_contain_text("via slack")
    await expect(tab.locator("#acted-now")).to_have_text("☑ ack by alice☾ snoozed until 11:21:00")
    # The snooze ends an hour later on the page's clock: its chip goes, the rest stays.
    await tab.clock.fast_forward("01:00:02")
    await expect(tab.locator("#acted-now")).to_have_text("☑ ack by alice")
    await tab.context.close()
    assert watch.dialogs == []
    assert not_network_refusals(watch) == []


async def test_without_basic_auth_nobody_acts_from_the_board(
    started: list[Sentinel], browser: Browser
) -> None:
    loaded = load_expectations([ROOT / "expectations"])
    sentinel = Sentinel(
        loaded.expectations,
        decoder=LineDecoder(),
        schemas=SchemaRegistry.load(ROOT / "expectations" / "schemas"),
        wall_clock=EXAMPLE_CLOCK,
    )
    sentinel.replay(EXAMPLE_LOG.read_bytes().splitlines(), until=EXAMPLE_CLOCK)
    started.append(await sentinel.start())
    context = await browser.new_context()
    tab = await context.new_page()
    await tab.goto(sentinel.url + PAGE)
    await expect(tab.locator("#actions")).to_contain_text("Nobody acts from this board")
    await expect(tab.locator("#actions button")).to_have_count(0)
    status, _ = await post_from_page(tab, ACTIONS, {"verb": "acknowledge"}, None)
    assert status == 403
    await context.close()


async def test_an_operators_post_without_the_token_or_for_another_rollout_is_refused(
    started: list[Sentinel], browser: Browser
) -> None:
    sentinel = await start(started)
    tab, watch = await tab_as(browser, "alice")
    await tab.goto(sentinel.url + PAGE)
    await live(tab)
    token = await tab.locator("#actions").get_attribute("data-token")
    assert token
    # The page set the board's session cookie: no script reads it, no other site sends it.
    (cookie,) = await tab.context.cookies(sentinel.url)
    assert (cookie["name"], len(cookie["value"])) == ("sentinel_session", 32)
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/")
    assert await tab.evaluate("document.cookie") == ""
    # The operator's own page, by script, without the token: a forged request.
    status, body = await post_from_page(tab, ACTIONS, {"verb": "acknowledge"}, None)
    assert status == 403
    assert "X-Sentinel-Token" in body["error"]
    status, _ = await post_from_page(tab, ACTIONS, {"verb": "acknowledge"}, token[::-1])
    assert status == 403
    # alice's page in another browser session has another token; neither works in the other.
    other, other_watch = await tab_as(browser, "alice")
    await other.goto(sentinel.url + PAGE)
    others_token = await other.locator("#actions").get_attribute("data-token")
    assert others_token and others_token != token
    status, body = await post_from_page(tab, ACTIONS, {"verb": "acknowledge"}, others_token)
    assert (status, "in this session" in body["error"]) == (403, True)
    status, _ = await post_from_page(other, ACTIONS, {"verb": "acknowledge"}, token)
    assert status == 403
    await other.context.close()
    assert not_network_refusals(other_watch) == []
    # The page's token without its cookie (a script outside the browser, say): refused.
    headers = {**authorization("alice"), "Origin": sentinel.url, "X-Sentinel-Token": token}
    async with (
        aiohttp.ClientSession() as session,
        session.post(sentinel.url + ACTIONS, json={"verb": "acknowledge"}, headers=headers) as a,
    ):
        assert a.status == 403
        assert "sentinel_session cookie" in (await a.json())["error"]
    # With the token, a rollout key or expectation that does not exist: 404.
    for forged in (
        f"/api/v1/rollouts/{NAME}/r-9999/actions",
        f"/api/v1/rollouts/{NAME}/{ROLLOUT}%2F..%2Fr-1006/actions",
        f"/api/v1/rollouts/no-such-expectation/{ROLLOUT}/actions",
    ):
        status, body = await post_from_page(tab, forged, {"verb": "abandon", "note": "x"}, token)
        assert status == 404, (forged, body)
    full = await rollout_json(sentinel, "alice")
    assert (full["phase"], full["actions"]) == ("open", [])
    _, other, _ = await get(
        sentinel.url, f"/api/v1/rollouts/{NAME}/r-1006", headers=authorization("alice")
    )
    assert (other["phase"], other["actions"]) == ("open", [])

    # Closed meanwhile (from another tab): the page's button says why nothing happened.
    headers["Cookie"] = f"sentinel_session={cookie['value']}"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sentinel.url + ACTIONS, json={"verb": "abandon", "note": "done"}, headers=headers
        ) as answer,
    ):
        assert answer.status == 200, await answer.text()
    await tab.get_by_role("button", name="Acknowledge").click()
    await expect(tab.locator("#act-status")).to_have_text(
        f"Not taken now: rollout {NAME}/{ROLLOUT} is closed: it cannot be acknowledged, only noted"
    )
    await expect(tab.locator("#act-status")).to_have_attribute("data-kind", "error")
    await tab.context.close()
    assert watch.dialogs == []
    assert not_network_refusals(watch) == []


async def test_a_post_from_another_origin_is_refused_and_changes_nothing(
    started: list[Sentinel], browser: Browser
) -> None:
    sentinel = await start(started)
    target = sentinel.url + ACTIONS
    # Another site on another port: a form that posts JSON-looking text to the sentinel (the
    # classic cross-site request, with the operator's basic auth in the browser), and a
    # script's fetch that the browser sends without reading the answer.
    field = '{"verb": "abandon", "note": "evil", "x": "'
    evil_page = (
        "<!doctype html><title>elsewhere</title>"
        f'<form method="post" action="{target}" enctype="text/plain">'
        f"<input type=\"hidden\" name='{field}' value='\"}}'>"
        '<button id="go">go</button></form>'
        "<script>function send() { return fetch("
        f'"{target}", {{method: "POST", mode: "no-cors", credentials: "include",'
        ' body: \'{"verb": "acknowledge"}\'}).then(() => "sent"); }</script>'
    )

    async def serve_page(request: web.Request) -> web.Response:
        return web.Response(text=evil_page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", serve_page)
    runner, port = await serve(app, "127.0.0.1", 0)
    try:
        tab, _ = await tab_as(browser, "alice")
        await tab.goto(f"http://127.0.0.1:{port}/")
        async with tab.expect_response(target) as fetched:
            assert await tab.evaluate("send()") == "sent"
        assert (await fetched.value).status == 403
        async with tab.expect_navigation() as submitted:
            await tab.locator("#go").click()
        answer = await submitted.value
        assert answer is not None and answer.status == 403
        assert "the board's own page" in await tab.locator("body").inner_text()
        await tab.context.close()
    finally:
        await runner.cleanup()
    full = await rollout_json(sentinel, "alice")
    assert (full["phase"], full["actions"]) == ("open", [])


async def test_a_click_on_one_replicas_page_reaches_the_replica_that_owns_the_rollout(
    start_sentinel: StartSentinel, browser: Browser
) -> None:
    ports = free_ports(2)
    peers = [f"127.0.0.1:{port}" for port in ports]
    a, b = [
        await start_sentinel(port=port, peers=peers, basic_auth=USERS, operators=OPERATORS)
        for port in ports
    ]
    b.events([event("SchemaV2_Ready", T0, "r-b", "e-b")], T0 + 11 * MIN)  # b owns r-b
    a.advance(T0 + 11 * MIN)  # one wall clock: a person acts at 10:11, after the stall
    tab, watch = await tab_as(browser, "alice")
    await tab.goto(f"{a.url}/rollouts/{NAME}/r-b")  # a's board, asking b
    await live(tab)
    await tab.get_by_role("button", name="Acknowledge").click()
    await expect(tab.locator("#act-status")).to_have_text(
        "Acknowledged: its open problems are not told again."
    )
    await expect(tab.locator("#action-list li.action")).to_contain_text(["by alice via board"])
    await expect(tab.locator("#acted-now")).to_have_text("☑ ack by alice")
    assert [action.verb for action in b.engine.rollouts[NAME]["r-b"].actions] == ["acknowledge"]
    assert "r-b" not in a.engine.rollouts[NAME]
    await tab.context.close()
    assert watch.errors == []


async def test_an_action_on_a_hostile_rollout_key_reaches_it_and_runs_nothing(
    started: list[Sentinel], browser: Browser
) -> None:
    sentinel = await start(started, hostile_expectation())
    # Built of the hostile rollout's own events: no schema for them, so Lenient checks.
    sentinel.events([hostile_start(EXAMPLE_CLOCK)], EXAMPLE_CLOCK)
    tab, watch = await tab_as(browser, "alice")
    await tab.goto(f"{sentinel.url}/rollouts/hostile/{quote(HOSTILE_KEY, safe='')}")
    await live(tab)
    abandon = tab.locator('button[data-verb="abandon"]')  # behind its closed confirm step
    await expect(abandon).to_have_text(f"Abandon {HOSTILE_KEY}")
    await tab.get_by_label("Note", exact=True).fill(HOSTILE_KEY)
    await tab.get_by_role("button", name="Add note").click()
    await expect(tab.locator("#act-status")).to_have_text("Note added.")
    await expect(tab.locator("#action-list q.note")).to_have_text(HOSTILE_KEY)
    assert await tab.locator("main img").count() == 0
    assert [a.note for a in sentinel.engine.rollouts["hostile"][HOSTILE_KEY].actions] == [
        HOSTILE_KEY
    ]
    await tab.context.close()
    assert watch.dialogs == []
    assert watch.errors == []
