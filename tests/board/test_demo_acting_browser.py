"""Issue 20's "Done when" on the demo itself: `sentinel demo` (what `make demo` runs), its alerts
going to the fake Slack Web API with the app's signing secret set, as a person would run it with
a real workspace. A stall the demo posts is acknowledged from its Slack button (a click posted
to the demo's /slack/actions as Slack posts it, signed as Slack signs it); the parent message
says who, the API's rollout and its page on the board say so. The demo user, signed in with the
password of the demo's first line, acknowledges, notes and abandons from the board in a real
browser (Debian's chromium, driven by Playwright), and sees each there; after the demo stopped,
`sentinel report --state` on the state file its banner names lists every action (who, when,
what). Screenshots go to the test's tmp_path (printed with `-s`)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alerting.fakes import FakeSlack, SlackMessage
from alerting.helpers import eventually
from alerting.test_acted import SECRET, buttons, text_of
from alerting.test_slack_interactivity import click, post, signed
from browser_support import CHROMIUM, Watch
from demo_support import ROOT, Demo
from playwright.async_api import Browser, Locator, Page, expect

from sentinel.alerting.sinks.slack_buttons import ACKNOWLEDGE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.broker,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"
    ),
]
EXPECTATION = "user-service-v2"
WAIT_MS = 30_000
# The demo runs its windows 120 times faster: its stalls come 5 s in.
SPEED = "120"
NOTE = "<b>paged</b> team-users: the producer's new schema renamed replicas"
WHY_SILENT = "superseded by r-complete"
WHY_RENAMED = "the producer is fixed in r-renamed-2"


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    """The fake Slack Web API, knowing the demo's bot token and its channel #rollouts."""
    server = FakeSlack(token="xoxb-demo")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def demo(slack: FakeSlack, tmp_path: Path) -> AsyncIterator[Demo]:
    """The demo alerting to the fake Slack, with the Slack app's signing secret: its parents
    carry Acknowledge and Snooze buttons and its /slack/actions takes their clicks."""
    running = Demo(
        tmp_path,
        "--speed",
        SPEED,
        env={
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_CHANNEL": "#rollouts",
            "SLACK_BASE_URL": slack.base_url,
            "SLACK_SIGNING_SECRET": SECRET,
        },
    )
    try:
        await asyncio.to_thread(running.start)
        await asyncio.to_thread(running.wait_until_served)
        yield running
    finally:
        await asyncio.to_thread(running.kill)


def parent_of(slack: FakeSlack, rollout: str) -> SlackMessage | None:
    """The parent message of `rollout`, found by the value of its act buttons (Acknowledge,
    Snooze: the rollout's key)."""
    for message in slack.parents():
        for button in buttons(message).values():
            if "value" in button and json.loads(button["value"])["rollout"] == rollout:
                return message
    return None


async def full(demo: Demo, rollout: str) -> dict[str, Any]:
    """The API's full rollout, asked as the demo user."""
    answer = await asyncio.to_thread(demo.get_json, f"api/v1/rollouts/{EXPECTATION}/{rollout}")
    return dict(answer)


def verbs(rollout: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(action["verb"], action["by"], action["via"]) for action in rollout["actions"]]


async def report(state: Path, form: str) -> str:
    """What `sentinel report --state` prints of the demo's state file in format `form`."""
    command = [sys.executable, "-m", "sentinel", "report", "--state", str(state), "--format", form]
    done = await asyncio.to_thread(
        subprocess.run, command, cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


async def shot(tab: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    await tab.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")


async def open_page(tab: Page, demo: Demo, rollout: str) -> Locator:
    """The rollout's page, live; its history of actions."""
    await tab.goto(f"{demo.url}rollouts/{EXPECTATION}/{rollout}")
    await expect(tab.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    return tab.locator("#action-list li.action")


async def abandon(tab: Page, rollout: str, why: str) -> None:
    """The page's Abandon step: open it, say why, confirm; the page reloads closed."""
    await tab.locator("details.act-abandon summary").click()
    await tab.get_by_label("Why").fill(why)
    async with tab.expect_navigation():
        await tab.get_by_role("button", name=f"Abandon {rollout}").click()
    await expect(tab.locator(".facts .badge.phase-abandoned")).to_have_text("⊘ abandoned")


def row(tab: Page, rollout: str) -> Locator:
    return tab.locator("#groups article.rollout").filter(has=tab.locator("a.key", has_text=rollout))


async def test_a_demo_stall_is_acknowledged_from_slack_and_the_board_and_the_report_says_who(
    demo: Demo, slack: FakeSlack, browser: Browser, tmp_path: Path
) -> None:
    # (a) From Slack: the stall of r-silent is posted with its buttons; a click acknowledges it.
    await eventually(lambda: parent_of(slack, "r-silent") is not None, within=60)
    silent = parent_of(slack, "r-silent")
    assert silent is not None and ACKNOWLEDGE in buttons(silent)
    assert buttons(silent)["sentinel-dashboard"]["url"] == (
        f"{demo.url}rollouts/{EXPECTATION}/r-silent"
    )
    body, headers = signed(click(silent, ACKNOWLEDGE), time.time())
    status, _ = await post(demo.url + "slack/actions", body, headers)
    assert status == 200
    await eventually(lambda: "Acknowledged by alice (Slack)" in text_of(silent), within=10)
    assert ACKNOWLEDGE not in buttons(silent)
    acknowledged = await full(demo, "r-silent")
    assert verbs(acknowledged) == [("acknowledge", "alice", "slack")]
    assert acknowledged["acknowledged_by"] == "alice"
    # The same click again is a replay: refused, nothing more.
    status, _ = await post(demo.url + "slack/actions", body, headers)
    assert status == 401
    assert len((await full(demo, "r-silent"))["actions"]) == 1

    # (b) From the board, signed in as the demo user with the first line's password.
    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, http_credentials=demo.credentials
    )
    tab = await context.new_page()
    watch = Watch(tab)
    history = await open_page(tab, demo, "r-silent")
    await expect(history).to_have_count(1)
    await expect(history.nth(0)).to_contain_text("☑ acknowledged")
    await expect(history.nth(0)).to_contain_text("by alice via slack")
    await shot(tab, tmp_path, "demo-silent-acknowledged-from-slack.png")

    history = await open_page(tab, demo, "r-renamed")
    await tab.get_by_role("button", name="Acknowledge").click()
    await expect(tab.locator("#act-status")).to_have_text(
        "Acknowledged: its open problems are not told again."
    )
    await expect(history.nth(0)).to_contain_text("by demo via board")
    await tab.get_by_label("Note", exact=True).fill(NOTE)
    await tab.get_by_role("button", name="Add note").click()
    await expect(tab.locator("#act-status")).to_have_text("Note added.")
    await expect(history.nth(1).locator("q.note")).to_have_text(NOTE)  # text, not markup
    await expect(tab.locator("#acted-now")).to_have_text("☑ ack by demo", timeout=WAIT_MS)
    await shot(tab, tmp_path, "demo-renamed-acknowledged-on-the-board.png")
    renamed = await full(demo, "r-renamed")
    assert verbs(renamed) == [("acknowledge", "demo", "board"), ("note", "demo", "board")]
    # The Slack parent of r-renamed says who acknowledged it on the board.
    renamed_parent = parent_of(slack, "r-renamed")
    assert renamed_parent is not None
    await eventually(lambda: "Acknowledged by demo" in text_of(renamed_parent), within=10)

    # The board's rows say who acknowledged each.
    await tab.goto(demo.url)
    await expect(tab.locator("#live")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    await expect(row(tab, "r-silent").locator(".acted.acked")).to_have_text("☑ ack by alice")
    await expect(row(tab, "r-renamed").locator(".acted.acked")).to_have_text("☑ ack by demo")
    await shot(tab, tmp_path, "demo-board-acknowledged.png")

    # Both stalls are called off from the board: closed, they go to the history.
    for rollout, why in (("r-silent", WHY_SILENT), ("r-renamed", WHY_RENAMED)):
        history = await open_page(tab, demo, rollout)
        await abandon(tab, rollout, why)
        await expect(history.last).to_contain_text("✕ abandoned")
        await expect(history.last).to_contain_text(why)
    await shot(tab, tmp_path, "demo-renamed-abandoned.png")
    assert (await full(demo, "r-silent"))["phase"] == "abandoned"
    # Slack hears of it too: the parent is headed Abandoned, its act buttons gone.
    await eventually(lambda: "Abandoned" in text_of(silent), within=10)
    assert not {ACKNOWLEDGE, "sentinel-snooze-1h"} & set(buttons(silent))
    await tab.goto(demo.url + "?phase=closed")
    for rollout in ("r-silent", "r-renamed"):
        await expect(tab.locator("#groups a.key", has_text=rollout)).to_have_count(
            1, timeout=WAIT_MS
        )
    await shot(tab, tmp_path, "demo-history.png")
    await context.close()
    assert watch.dialogs == [] and watch.errors == []

    # (c) The demo stops on Ctrl-C; the report of its state file lists who did what, when.
    assert await asyncio.to_thread(demo.interrupt) == 0
    assert "Traceback" not in demo.err.read_text()
    state = demo.state_file()
    listed = {
        entry["rollout"]: entry for entry in json.loads(await report(state, "json"))["rollouts"]
    }
    assert verbs(listed["r-silent"]) == [
        ("acknowledge", "alice", "slack"),
        ("abandon", "demo", "board"),
    ]
    assert verbs(listed["r-renamed"]) == [
        ("acknowledge", "demo", "board"),
        ("note", "demo", "board"),
        ("abandon", "demo", "board"),
    ]
    assert all(action["at"] for entry in listed.values() for action in entry["actions"])
    text = await report(state, "md")
    assert "acknowledged by alice via slack" in text
    assert "acknowledged by demo via board" in text
    assert f"abandoned by demo via board: {WHY_SILENT}" in text
    assert "noted by demo via board" in text
    (tmp_path / "report.md").write_text(text)
