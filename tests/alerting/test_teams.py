"""Microsoft Teams through a Workflows webhook, through the real alerter, outbox and sender,
against a fake Workflows endpoint that accepts a message with an Adaptive Card (202) and answers
429, 400 and 413 as Teams does: one card per rollout with the Slack message's words."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import yaml

from sentinel.alerting.alerter import Alerter
from sentinel.alerting.drill import TEST_SENTENCE, TEST_TITLE, TEST_WORDS, drill_finding, plan_drill
from sentinel.alerting.grouper import Context, RolloutGroup
from sentinel.alerting.settings import AlertingSettings
from sentinel.alerting.settings_parser import parse_alerting
from sentinel.alerting.sinks.slack_blocks import history, render_rollout
from sentinel.alerting.sinks.teams import SINK, TeamsCard, TeamsSettings, TeamsTransport
from sentinel.alerting.sinks.teams import render_rollout as teams_rollout
from sentinel.configkit import Section
from sentinel.core.errors import ConfigError
from sentinel.store.sqlite_outbox import SqliteOutbox

from .fakes import Answer, rate_limited
from .helpers import (
    EXPECTATION,
    MIN,
    T0,
    eventually,
    metrics,
    recovered,
    sample,
    schema_violation,
    sending,
    settle,
    stall,
    view,
    views_of,
)
from .test_reminders import DUE, Clock, Stalls, told
from .vendor_fakes import CARD, TEAMS_MESSAGE_BYTES, FakeTeams

QUICK: dict[str, Any] = {"window": 0.2, "retry_initial": 0.1, "retry_max": 0.4}


@pytest.fixture
async def teams() -> AsyncIterator[FakeTeams]:
    server = FakeTeams()
    await server.start()
    yield server
    await server.stop()


def settings(server: FakeTeams, **extra: Any) -> AlertingSettings:
    sink = TeamsSettings(url=server.workflow_url, timeout=2.0)
    return AlertingSettings(sinks=(sink,), **{**QUICK, **extra})


def words(card: dict[str, Any]) -> list[str]:
    """The card's lines as people read them (each a RichTextBlock of TextRuns)."""
    return TeamsCard("", tuple(card["body"])).words()


async def test_a_stall_posts_one_adaptive_card_with_the_slack_messages_words(
    teams: FakeTeams,
) -> None:
    links = {"dashboard_url": "https://grafana.example/d/r?var-rollout={rollout}"}
    sentinel = Alerter(settings(teams, **links), SqliteOutbox(":memory:"))
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(teams.cards) == 1)
        await settle(0.3)
    [request] = teams.requests
    assert request.status == 202
    message = request.json
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == CARD
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    lines = words(card)
    # The overdue step's line is the checklist's (alert_words.checklist), as in Slack.
    assert lines[8].startswith("🔴 UserServiceV2_Running: due by 10:10")
    assert lines[:8] + lines[9:] == [
        "🔴 Stalled: user-service-v2",
        "Expectation: user-service-v2",
        "Rollout: 42",
        "Owner: team-identity",
        "Opened: 2025-06-01 10:00:00 UTC",
        "🔴 10:10:00 Stall: UserServiceV2_Running expected by 10:10 after SchemaV2_Ready at "
        "10:00; nothing seen",
        "Checklist",
        "✅ SchemaV2_Ready: seen at 10:00:00",
        "⚪ MessagingService_Reconfigured: waits for UserServiceV2_Running",
        "Updated 2025-06-01 10:10:00 UTC · rollout-sentinel",
    ]
    assert card["fallbackText"] == (
        "🔴 Stalled: user-service-v2 rollout 42: UserServiceV2_Running expected by 10:10 after "
        "SchemaV2_Ready at 10:00; nothing seen"
    )
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Dashboard",
            "url": "https://grafana.example/d/r?var-rollout=42",
        }
    ]


def test_the_card_says_what_the_slack_message_says() -> None:
    """The same words: each Slack line (its mrkdwn markup aside) is a line of the card."""
    ctx = Context("teams", T0 + 15 * MIN, AlertingSettings())
    group = RolloutGroup(f"{EXPECTATION}/42", EXPECTATION, "42", "", True, (stall(),), view(), T0)
    lines = history(group, ctx)
    slack = render_rollout(group, ctx, lines)
    card = teams_rollout(group, ctx, lines)
    assert card.text == slack.text  # no character here that Slack escapes
    said = [
        block["text"]["text"] for block in slack.blocks if block["type"] in {"header", "section"}
        and "text" in block
    ]  # fmt: skip
    shown = "\n".join(card.words())
    for text in said:
        for line in text.replace("*", "").split("\n"):
            assert line in shown, line


async def test_a_later_finding_posts_a_card_with_the_whole_story(teams: FakeTeams) -> None:
    sentinel = Alerter(settings(teams), SqliteOutbox(":memory:"))
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(teams.cards) == 1)
        late = view(running_seen=T0 + 12 * MIN)
        sentinel.accept([recovered()], views_of(late), time.time())
        await eventually(lambda: len(teams.cards) == 2)
        await settle(0.3)
    second = words(teams.cards[1])
    assert second[0] == "✅ Recovered: user-service-v2"
    assert any(line.startswith("🔴 10:10:00 Stall: ") for line in second)
    assert any(line.startswith("✅ 10:12:00 Recovered: ") for line in second)
    assert "🟡 UserServiceV2_Running: seen at 10:12:00, 2m late · owner team-users" in second


async def test_a_burst_is_one_card_within_teams_size(teams: FakeTeams) -> None:
    sentinel = Alerter(settings(teams), SqliteOutbox(":memory:"))
    rollouts = [f"{number}-{'x' * 200}" for number in range(200)]
    async with sending(sentinel):
        sentinel.accept(
            [stall(rollout, step="S" * 400) for rollout in rollouts],
            views_of(*(view(rollout) for rollout in rollouts)),
            time.time(),
        )
        await eventually(lambda: len(teams.cards) == 1)
        await settle(0.4)
    [request] = teams.requests
    assert len(request.raw) < TEAMS_MESSAGE_BYTES
    lines = words(teams.cards[0])
    assert lines[0] == "🔴 200 rollouts need attention"
    assert lines[1] == f"200 {EXPECTATION} rollouts: Stall of {'S' * 400}"
    assert lines[2].startswith(f"🔴 {EXPECTATION} 0-xxx")
    assert lines[-2].endswith(" more lines, cut to fit a Teams message")
    assert lines[-1] == "Grouped: more than 3 rollouts within 0.2s."


async def test_event_level_findings_are_one_digest_card(teams: FakeTeams) -> None:
    sentinel = Alerter(settings(teams), SqliteOutbox(":memory:"))
    async with sending(sentinel):
        violations = [schema_violation(f"o{number}") for number in range(12)]
        sentinel.accept(violations, views_of(), time.time())
        await eventually(lambda: len(teams.cards) == 1)
        await settle(0.4)
    [card] = teams.cards
    lines = words(card)
    assert lines[0] == "🟠 12 schema violations of OrderPlaced"
    assert lines[1] == "12 schema violations of OrderPlaced at 10:00:00"
    assert lines[2] == (
        "• OrderPlaced o0 from orders fails its schema: 'amount' is a required property"
    )
    assert lines[5] == "… and 9 more"
    assert card["fallbackText"].startswith("12 schema violations of OrderPlaced")


async def test_bus_data_is_shown_as_written_never_read_as_markdown(teams: FakeTeams) -> None:
    hostile = "[click](https://evil.example) **x** <at>everyone</at>"
    sentinel = Alerter(settings(teams), SqliteOutbox(":memory:"))
    async with sending(sentinel):
        sentinel.accept([stall(hostile, step=hostile)], views_of(), time.time())
        await eventually(lambda: len(teams.cards) == 1)
    [card] = teams.cards
    # Only TextRuns, which Adaptive Cards never read as Markdown: no TextBlock, no FactSet.
    assert {element["type"] for element in card["body"]} == {"RichTextBlock"}
    runs = [run for element in card["body"] for run in element["inlines"]]
    assert {run["type"] for run in runs} == {"TextRun"}
    assert f"Rollout: {hostile}" in words(card)


async def test_teams_429_waits_for_retry_after_and_posts_once(teams: FakeTeams) -> None:
    teams.fail_next(rate_limited(0))
    m = metrics()
    sentinel = Alerter(settings(teams), SqliteOutbox(":memory:"), m)
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(teams.cards) == 1)
        await settle(0.3)
    assert [request.status for request in teams.requests] == [429, 202]
    assert sample(m, "sentinel_alerts_sent_total", sink="teams", outcome="retried") == 1
    assert sample(m, "sentinel_alerts_sent_total", sink="teams", outcome="sent") == 1


async def test_a_card_teams_refuses_is_dropped_and_the_rest_posted(teams: FakeTeams) -> None:
    teams.fail_next(Answer(400, {"error": {"code": "InvalidTemplate"}}))
    sentinel = Alerter(settings(teams, max_messages=5), SqliteOutbox(":memory:"))
    async with sending(sentinel):
        sentinel.accept([stall("a"), stall("b")], views_of(view("a"), view("b")), time.time())
        await eventually(lambda: len(teams.cards) == 1)
        await settle(0.3)
    assert words(teams.cards[0])[2] == "Rollout: b"
    status = sentinel.status()["teams"]
    assert (status["ok"], status["failed"]) == (True, 1)


async def test_a_deleted_workflow_stops_the_sink_and_keeps_the_cards(teams: FakeTeams) -> None:
    sentinel = Alerter(
        AlertingSettings(sinks=(TeamsSettings(url=f"{teams.url}/gone"),), **QUICK),
        SqliteOutbox(":memory:"),
    )
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(teams.requests) == 1)
        await settle(0.5)
    status = sentinel.status()["teams"]
    assert status["ok"] is False and "HTTP 404" in status["error"]
    assert status["pending"] == 1


def read(text: str) -> AlertingSettings:
    return parse_alerting(Section(yaml.safe_load(text), "alerting", "config"))


def test_the_teams_section_is_read_with_messages_that_name_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke"
    monkeypatch.setenv("TEAMS_WORKFLOW_URL", url)
    [sink] = read("teams: {url_env: TEAMS_WORKFLOW_URL, timeout: 5s}").sinks
    assert sink == TeamsSettings(url=url, timeout=5.0)
    monkeypatch.delenv("TEAMS_WORKFLOW_URL")
    for text, message in [
        (
            "teams: {url_env: TEAMS_WORKFLOW_URL}",
            "alerting.teams.url_env: environment variable TEAMS_WORKFLOW_URL is not set",
        ),
        ("teams: {}", "alerting.teams.url: is required (or url_env: VARIABLE_NAME)"),
        ("teams: {url: 'x', channel: '#a'}", "alerting.teams.channel: unknown key"),
        ("teams: {url: 'teams.example'}", "alerting.teams.url: must be an http:// or https:// URL"),
    ]:
        with pytest.raises(ConfigError) as caught:
            read(text)
        assert str(caught.value) == f"config: {message}"


def test_the_message_is_json_teams_reads() -> None:
    ctx = Context("teams", T0, AlertingSettings())
    group = RolloutGroup(f"{EXPECTATION}/42", EXPECTATION, "42", "", True, (stall(),), None, T0)
    message = teams_rollout(group, ctx, history(group, ctx)).message()
    assert json.loads(json.dumps(message)) == message
    assert "actions" not in message["attachments"][0]["content"]  # no links configured


def test_long_bus_data_keeps_a_card_within_teams_size() -> None:
    key, step = "鍵" * 5000, "S" * 5000
    links = AlertingSettings(dashboard_url="https://grafana.example/d/r?var-rollout={rollout}")
    ctx = Context("teams", T0, links)
    findings = (stall(key, step=step), stall(key, step=step + "2"))
    group = RolloutGroup(f"{EXPECTATION}/{key}", EXPECTATION, key, "", True, findings, None, T0)
    message = teams_rollout(group, ctx, history(group, ctx)).message()
    size = len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())
    assert size < TEAMS_MESSAGE_BYTES
    card = message["attachments"][0]["content"]
    assert "actions" not in card  # a 45 KB link is left out, as in Slack
    assert len(card["fallbackText"]) <= 3000


async def test_the_test_alert_is_a_card_headed_as_a_test(teams: FakeTeams) -> None:
    """`sentinel alerts test`: the sink's own plan of the drill finding, marked by mark_test,
    delivered by its own transport; the Workflows endpoint accepts it."""
    configured = TeamsSettings(url=teams.workflow_url)
    finding = drill_finding(time.time())
    drilled = plan_drill(SINK.plan, "", finding, AlertingSettings(), "teams")
    [item] = [SINK.mark_test(configured, planned, finding.at) for planned in drilled.items]
    transport = TeamsTransport(configured)
    try:
        await transport.deliver(item, SqliteOutbox(":memory:"), finding.at)
    finally:
        await transport.aclose()
    [card] = teams.cards
    lines = words(card)
    assert lines[:5] == [
        f"🧪 {TEST_TITLE}",
        TEST_SENTENCE,
        f"Expectation: {TEST_TITLE}",
        f"Rollout: {finding.rollout}",
        "Owner: nobody named",
    ]
    assert lines[5].endswith(" · rollout-sentinel")
    assert len(lines) == 6
    assert card["fallbackText"] == TEST_WORDS


async def test_an_open_stall_is_told_again_as_a_card_of_its_own(teams: FakeTeams) -> None:
    """`renotify_after`: no threads, so a card of its own, as the incoming webhook does."""
    sink = TeamsSettings(url=teams.workflow_url, timeout=2.0)
    config = AlertingSettings(sinks=(sink,), renotify_after=30 * MIN, **QUICK)
    clock, stalls = Clock(DUE), Stalls()
    with told(config, clock, stalls, SqliteOutbox(":memory:")) as sentinel:
        async with sending(sentinel):
            await eventually(lambda: len(teams.cards) == 1)
            sentinel.flush_due(clock.at(DUE + 30 * MIN))
            await eventually(lambda: len(teams.cards) == 2)
            sentinel.flush_due(clock.at(DUE + 31 * MIN))  # the same turn: told once
            await settle(0.3)
    assert len(teams.cards) == 2
    reminder = teams.cards[1]
    assert reminder["fallbackText"] == (
        "🔴 Still stalled: user-service-v2 rollout 42: UserServiceV2_Running: due by 10:10, "
        "overdue by 30m, nothing seen yet"
    )
    lines = words(reminder)
    assert lines[0] == "🔴 Still stalled: user-service-v2"
    assert lines[1] == (
        "🔴 user-service-v2 42: UserServiceV2_Running: due by 10:10, overdue by 30m, nothing "
        "seen yet · owner team-identity"
    )
    step = "🔴 UserServiceV2_Running: due by 10:10, overdue by 30m, nothing seen yet"
    assert f"{step} · owner team-users" in lines
    assert lines[-1] == "Told again every 30m · rollout-sentinel"
