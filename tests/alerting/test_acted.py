"""What the sinks say of on-call's actions (contract section 14), driven through the pipeline as
`sentinel run` wires it, against the fake Slack and PagerDuty: the parent's act buttons, the
parent updated with who acknowledged or snoozed and until when, a line in the thread, PagerDuty's
`acknowledge`; an acknowledged stall is not told again while a new problem is; a snooze keeps
the reminders quiet until its end, which the thread tells. The clock is driven."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine.helpers import T0, user_service
from pipeline.helpers import record

from sentinel.alerting.alerter import Alerter
from sentinel.alerting.grouper import Context, RolloutGroup
from sentinel.alerting.reminders import ESCALATION, OpenStall, due_reminders, open_stalls, snoozes
from sentinel.alerting.settings import AlertingSettings, Escalation
from sentinel.alerting.settings_parser import parse_alerting
from sentinel.alerting.sinks.pagerduty import PagerDutySettings
from sentinel.alerting.sinks.pagerduty import on_action as pagerduty_on_action
from sentinel.alerting.sinks.slack import SlackSettings
from sentinel.alerting.sinks.slack_acted import render_parent
from sentinel.alerting.sinks.slack_buttons import ACKNOWLEDGE, SNOOZES, rollout_value
from sentinel.configkit import Section
from sentinel.core.engine.actions import Action, Requested, Verb
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Kind
from sentinel.core.engine.snapshots import RolloutView
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.envelope import Envelope
from sentinel.core.pipeline.pipeline import Kept, Pipeline, WallClock
from sentinel.core.ports.outbox import Thread
from sentinel.store.sqlite import SqliteStore

from .fakes import FakeSlack, SlackMessage
from .helpers import MIN, eventually, sending, settle, slack_settings, stall, view
from .vendor_fakes import ROUTING_KEY, FakePagerDuty

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
EXPECTATION = "user-service-v2"
DUE = T0 + 10 * MIN  # UserServiceV2_Running, due 10 minutes after SchemaV2_Ready
HOUR = 60 * MIN
ALERT_ON = frozenset({Kind.STALL})


@pytest.fixture
async def pagerduty() -> Any:
    server = FakePagerDuty()
    await server.start()
    yield server
    await server.stop()


LINKS = {
    "dashboard_url": "https://sentinel.example/rollouts/{expectation}/{rollout}",
    "runbook_url": "https://runbooks.example/{expectation}",
}


def interactive(base_url: str, *others: Any, **extra: Any) -> AlertingSettings:
    settings = slack_settings(base_url, others=others, alert_on=ALERT_ON, **LINKS, **extra)
    slack = replace(settings.sinks[0], signing_secret=SECRET)
    return replace(settings, sinks=(slack, *settings.sinks[1:]))


class Sentinel:
    """The pipeline, engine, state file and alerter of one process, on a driven clock."""

    def __init__(self, settings: AlertingSettings, path: Path) -> None:
        self.now = T0
        self.store = SqliteStore(path)
        self.engine = Engine([user_service()])
        self.alerter = Alerter(
            settings,
            self.store.outbox(),
            clock=lambda: self.now,
            stalls=functools.partial(open_stalls, self.engine),
            snoozes=functools.partial(snoozes, self.engine),
        )
        self.pipeline = Pipeline(self.engine, self.store, BusDecoder(), self.alerter)
        self.pipeline.restore()
        self._offset = 0

    def at(self, now: float, *events: str, actions: tuple[Action, ...] = ()) -> Kept:
        """A batch at `now`: the events of rollout r1 seen then, the actions asked on it."""
        self.now = now
        records = []
        for event in events:
            envelope = Envelope(event, f"e{self._offset}", "/tests", now, {"rollout_id": "r1"})
            records.append(record(envelope, self._offset, read_at=now))
            self._offset += 1
        asked = [Requested(EXPECTATION, "r1", action) for action in actions]
        return self.pipeline.process(records, WallClock(now), actions=asked)


def act(verb: Verb, by: str, at: float, until: float | None = None) -> Action:
    return Action(verb, by, at, "slack", until)


def buttons(message: SlackMessage) -> dict[str, dict[str, Any]]:
    return {
        button["action_id"]: button
        for block in message.blocks
        if block["type"] == "actions"
        for button in block["elements"]
    }


def text_of(message: SlackMessage) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


async def test_an_acknowledgement_updates_the_parent_pages_no_more_and_a_new_problem_notifies(
    slack_api: FakeSlack, pagerduty: FakePagerDuty, tmp_path: Path
) -> None:
    pd = PagerDutySettings(routing_key=ROUTING_KEY, url=pagerduty.enqueue_url, timeout=2.0)
    sentinel = Sentinel(
        interactive(slack_api.base_url, pd, renotify_after=30 * MIN), tmp_path / "s.db"
    )
    async with sending(sentinel.alerter):
        sentinel.at(T0, "SchemaV2_Ready")
        sentinel.at(DUE + 5)  # the stall, held for the grouping window
        sentinel.at(DUE + 6)
        await eventually(lambda: len(slack_api.messages) == 1 and len(pagerduty.events()) == 1)
        [parent] = slack_api.messages
        shown = buttons(parent)
        assert list(shown) == [
            ACKNOWLEDGE,
            *SNOOZES,
            "sentinel-dashboard",
            "sentinel-runbook",
        ]
        assert json.loads(shown[ACKNOWLEDGE]["value"]) == {
            "expectation": EXPECTATION,
            "rollout": "r1",
        }
        assert shown["sentinel-dashboard"]["text"]["text"] == "Open on board"

        kept = sentinel.at(DUE + MIN, actions=(act(Verb.ACKNOWLEDGE, "alice", DUE + MIN),))
        assert [outcome.applied for outcome in kept.acted] == [True]
        await eventually(lambda: parent.updates == 1 and len(slack_api.replies(parent)) == 1)
        await eventually(lambda: len(pagerduty.events()) == 2)
        assert "✋ Acknowledged by alice (Slack) at 2026-11-25 10:11:00 UTC" in text_of(parent)
        assert list(buttons(parent)) == [*SNOOZES, "sentinel-dashboard", "sentinel-runbook"]
        [reply] = slack_api.replies(parent)
        assert "Acknowledged by alice (Slack): its open problems are not told again" in reply.text
        assert [(e["event_action"], e["dedup_key"]) for e in pagerduty.events()] == [
            ("trigger", f"{EXPECTATION}/r1"),
            ("acknowledge", f"{EXPECTATION}/r1"),
        ]
        assert pagerduty.incidents[f"{EXPECTATION}/r1"].status == "acknowledged"

        # Its turns pass: nothing is told again.
        sentinel.at(DUE + 30 * MIN + 1)
        sentinel.at(DUE + 60 * MIN + 1)
        await settle(0.4)
        assert len(slack_api.replies(parent)) == 1

        # The step is seen late, and the next one stalls: a new problem, told and told again.
        seen = DUE + 61 * MIN
        sentinel.at(seen, "UserServiceV2_Running")
        sentinel.at(seen + 1)  # its recovery replies
        sentinel.at(seen + 5 * MIN + 5)
        sentinel.at(seen + 5 * MIN + 6)
        # The parent's update and the replies travel as separate outbox items: wait for both.
        await eventually(
            lambda: len(slack_api.replies(parent)) == 3 and ACKNOWLEDGE in buttons(parent)
        )
        assert "at 2026-11-25 10:11:00 UTC; a problem since is not" in text_of(parent)
        sentinel.at(seen + 35 * MIN + 10)
        await eventually(lambda: len(slack_api.replies(parent)) == 4)
        await settle(0.3)
    still = slack_api.replies(parent)[-1]
    assert "Still stalled" in still.text and "MessagingService_Reconfigured" in still.text
    assert [e["event_action"] for e in pagerduty.events()][-1] == "trigger"
    sentinel.store.close()


async def test_a_snooze_keeps_the_reminders_quiet_until_it_ends_and_the_thread_says_so(
    slack_api: FakeSlack, tmp_path: Path
) -> None:
    settings = interactive(slack_api.base_url, renotify_after=30 * MIN)
    sentinel = Sentinel(settings, tmp_path / "s.db")
    async with sending(sentinel.alerter):
        sentinel.at(T0, "SchemaV2_Ready")
        sentinel.at(DUE + 5)
        sentinel.at(DUE + 6)
        await eventually(lambda: len(slack_api.messages) == 1)
        [parent] = slack_api.messages
        snooze = act(Verb.SNOOZE, "bob", DUE + MIN, until=DUE + MIN + HOUR)
        sentinel.at(DUE + MIN, actions=(snooze,))
        await eventually(lambda: parent.updates == 1 and len(slack_api.replies(parent)) == 1)
        assert "💤 Snoozed by bob (Slack) until 2026-11-25 11:11:00 UTC" in text_of(parent)
        assert ACKNOWLEDGE in buttons(parent)  # a snooze acknowledges nothing
        sentinel.at(DUE + 30 * MIN + 1)  # the first turn, snoozed
        await settle(0.3)
        assert len(slack_api.replies(parent)) == 1

        sentinel.at(DUE + MIN + HOUR + 20)  # the snooze is over: the thread says so
        await eventually(lambda: len(slack_api.replies(parent)) == 3)
        await eventually(lambda: parent.updates == 2)
        sentinel.at(DUE + MIN + HOUR + 40)
        await settle(0.3)
    replies = [reply.text for reply in slack_api.replies(parent)]
    assert "Snoozed by bob (Slack) until 2026-11-25 11:11:00 UTC" in replies[0]
    assert any(
        "Snooze over: bob (Slack)'s snooze ended at 2026-11-25 11:11:00" in r for r in replies
    )
    assert any("Still stalled" in r and "overdue by 1h1m" in r for r in replies)
    assert len(replies) == 3  # each told once
    assert "Snoozed by" not in text_of(parent)
    sentinel.store.close()


async def test_an_acknowledgement_from_the_board_updates_a_parent_without_buttons(
    slack_api: FakeSlack, tmp_path: Path
) -> None:
    """Without a signing secret the parent has links only; an acknowledgement from the board
    still says who, in the parent and in the thread."""
    settings = slack_settings(slack_api.base_url, alert_on=ALERT_ON, **LINKS)
    sentinel = Sentinel(settings, tmp_path / "s.db")
    async with sending(sentinel.alerter):
        sentinel.at(T0, "SchemaV2_Ready")
        sentinel.at(DUE + 5)
        sentinel.at(DUE + 6)
        await eventually(lambda: len(slack_api.messages) == 1)
        [parent] = slack_api.messages
        assert list(buttons(parent)) == ["sentinel-dashboard", "sentinel-runbook"]
        assert buttons(parent)["sentinel-dashboard"]["text"]["text"] == "Dashboard"
        board = Action(Verb.ACKNOWLEDGE, "carol", DUE + MIN, "board")
        sentinel.at(DUE + MIN, actions=(board,))
        await eventually(lambda: parent.updates == 1 and len(slack_api.replies(parent)) == 1)
    assert "✋ Acknowledged by carol (board)" in text_of(parent)
    assert list(buttons(parent)) == ["sentinel-dashboard", "sentinel-runbook"]
    sentinel.store.close()


def test_a_rollout_key_too_long_for_a_buttons_value_gets_no_act_buttons_but_its_links() -> None:
    settings = interactive("http://127.0.0.1:9/api/")
    long_key = "k" * 2000
    found = stall(rollout=long_key)
    group = RolloutGroup(
        key=f"{EXPECTATION}/{long_key}",
        expectation=EXPECTATION,
        rollout=long_key,
        destination="#rollouts",
        opens=True,
        findings=(found,),
        view=view(rollout=long_key),
        held_at=found.at,
    )
    assert rollout_value(EXPECTATION, long_key) is None
    message, _ = render_parent(group, Context("slack", found.at, settings), ("a line",), None)
    [actions] = [block for block in message.blocks if block["type"] == "actions"]
    assert [b["action_id"] for b in actions["elements"]] == [
        "sentinel-dashboard",
        "sentinel-runbook",
    ]
    said = json.dumps(message.blocks, ensure_ascii=False)
    assert "this rollout's key is too long for a Slack button. Act on the board." in said
    short = replace(group, key=f"{EXPECTATION}/42", rollout="42", view=view())
    message, _ = render_parent(short, Context("slack", found.at, settings), ("a line",), None)
    assert ACKNOWLEDGE in json.dumps(message.blocks)
    assert "too long" not in json.dumps(message.blocks)


def test_the_signing_secret_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    raw = yaml.safe_load(
        "slack: {token_env: SLACK_BOT_TOKEN, default_channel: '#r', "
        "signing_secret_env: SLACK_SIGNING_SECRET}"
    )
    [slack] = parse_alerting(Section(raw, "alerting", "sentinel.yaml")).sinks
    assert isinstance(slack, SlackSettings)
    assert slack.signing_secret == SECRET


async def test_a_snoozes_end_is_told_after_a_restart_once(
    slack_api: FakeSlack, tmp_path: Path
) -> None:
    """The snooze is kept with the rollout in the state file: a new process finds it (its first
    look walks every open rollout) and tells its end once, whichever process reaches it."""
    settings = interactive(slack_api.base_url, renotify_after=30 * MIN)
    sentinel = Sentinel(settings, tmp_path / "s.db")
    async with sending(sentinel.alerter):
        sentinel.at(T0, "SchemaV2_Ready")
        sentinel.at(DUE + 5)
        sentinel.at(DUE + 6)
        await eventually(lambda: len(slack_api.messages) == 1)
        snooze = act(Verb.SNOOZE, "bob", DUE + MIN, until=DUE + MIN + HOUR)
        sentinel.at(DUE + MIN, actions=(snooze,))
        await eventually(lambda: len(slack_api.messages) == 2)
        await settle(0.2)
    sentinel.store.close()

    [parent] = slack_api.parents()
    for _ in range(2):  # two restarts after the end: told by the first only
        sentinel = Sentinel(settings, tmp_path / "s.db")
        async with sending(sentinel.alerter):
            sentinel.at(DUE + MIN + HOUR + 5)
            await eventually(
                lambda: any("Snooze over" in r.text for r in slack_api.replies(parent))
            )
            await settle(0.3)
        sentinel.store.close()
    replies = [reply.text for reply in slack_api.replies(parent)]
    assert sum("Snooze over" in reply for reply in replies) == 1
    assert sum("Still stalled" in reply for reply in replies) == 1  # the turn now due, once


async def test_a_closed_rollouts_parent_keeps_who_acted_and_drops_the_act_buttons(
    slack_api: FakeSlack, tmp_path: Path
) -> None:
    sentinel = Sentinel(interactive(slack_api.base_url), tmp_path / "s.db")
    async with sending(sentinel.alerter):
        sentinel.at(T0, "SchemaV2_Ready")
        sentinel.at(DUE + 5)
        sentinel.at(DUE + 6)
        await eventually(lambda: len(slack_api.messages) == 1)
        [parent] = slack_api.messages
        sentinel.at(DUE + MIN, actions=(act(Verb.ACKNOWLEDGE, "alice", DUE + MIN),))
        await eventually(lambda: parent.updates == 1)
        sentinel.at(DUE + 2 * MIN, actions=(act(Verb.ABANDON, "alice", DUE + 2 * MIN),))
        sentinel.at(DUE + 2 * MIN + 1)
        await eventually(lambda: parent.updates == 2)
        await settle(0.2)
    assert "Acknowledged by alice" in text_of(parent)
    assert list(buttons(parent)) == ["sentinel-dashboard", "sentinel-runbook"]
    assert parent.blocks[0]["text"]["text"].endswith("Abandoned: user-service-v2")
    sentinel.store.close()


def test_an_acknowledged_or_snoozed_stall_has_no_reminder_nor_escalation_due() -> None:
    """`due_reminders` decides from the actions the stall's view carries: an acknowledgement
    after the stall quiets it, one before it does not (a new problem); a snooze quiets every
    stall until its end."""
    every = replace(
        AlertingSettings(), renotify_after=30 * MIN, escalate=Escalation("#incidents", HOUR)
    )
    raised = stall()  # due 10:10 in the alerting helpers' day
    due = raised.deadline or raised.at
    now = due + HOUR + 1
    ack_after = Action(Verb.ACKNOWLEDGE, "ana", raised.at + 5, "board")
    ack_before = Action(Verb.ACKNOWLEDGE, "ana", raised.at - 5, "board")
    snoozed = Action(Verb.SNOOZE, "bo", raised.at + 5, "slack", until=now + 1)
    snooze_over = Action(Verb.SNOOZE, "bo", raised.at + 5, "slack", until=now - 1)

    def due_turns(*actions: Action) -> list[int]:
        open_stall = OpenStall(raised, replace_actions(view(), actions))
        return sorted(reminder.turn for reminder in due_reminders([open_stall], now, every))

    assert due_turns() == [ESCALATION, 2]
    assert due_turns(ack_after) == []
    assert due_turns(ack_before) == [ESCALATION, 2]
    assert due_turns(snoozed) == []
    assert due_turns(snooze_over) == [ESCALATION, 2]


def test_pagerduty_is_told_of_an_acknowledgement_only_with_a_problem_open() -> None:
    settings = AlertingSettings()
    ctx = Context("pagerduty", T0, settings)
    the_view = view()
    ack = Action(Verb.ACKNOWLEDGE, "ana", T0, "board")
    firing = Thread(channel="", firing=({"kind": "stall", "step": "UserServiceV2_Running"},))
    [item] = pagerduty_on_action(ack, the_view, firing, ctx)
    assert item.payload == {
        "event": {"event_action": "acknowledge", "dedup_key": "user-service-v2/42"}
    }
    assert pagerduty_on_action(ack, the_view, None, ctx) == []  # never told
    assert pagerduty_on_action(ack, the_view, Thread(channel=""), ctx) == []  # resolved
    snooze = Action(Verb.SNOOZE, "ana", T0, "board", until=T0 + HOUR)
    assert pagerduty_on_action(snooze, the_view, firing, ctx) == []


def replace_actions(seen: RolloutView, actions: tuple[Action, ...]) -> RolloutView:
    seen.actions = actions
    return seen
