"""Re-notify and escalate (contract section 14): an open stall told to people is told again every
`renotify_after` in its thread (a message of its own without threads), and posted once in
`escalate.channel` after `escalate.after`; decided from the open stalls and the outbox's record,
so a restart neither repeats nor forgets one. The clock is driven, never slept on."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine.helpers import T0 as ENGINE_T0
from engine.helpers import user_service
from pipeline.helpers import record

from sentinel.alerting.alerter import REMIND_EVERY, WALK_EVERY, Alerter
from sentinel.alerting.reminders import ESCALATION, OpenStall, Rollouts, due_reminders, open_stalls
from sentinel.alerting.settings import AlertingSettings, Escalation, ExpectationAlerting, Silence
from sentinel.alerting.settings_parser import parse_alerting
from sentinel.alerting.sinks.slack_webhook import SlackWebhookSettings
from sentinel.alerting.sinks.webhook import WebhookSettings
from sentinel.configkit import Section
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Kind
from sentinel.core.engine.snapshots import Phase
from sentinel.core.errors import ConfigError
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.envelope import Envelope
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.core.pipeline.replay import replay
from sentinel.core.rules.expectations import Expectation, Step
from sentinel.store.sqlite import SqliteStore
from sentinel.store.sqlite_outbox import SqliteOutbox

from .fakes import FakeReceiver, FakeSlack
from .helpers import (
    MIN,
    T0,
    completed,
    eventually,
    sending,
    settle,
    slack_settings,
    stall,
    view,
    views_of,
)
from .test_slack import everything

DUE = T0 + 10 * MIN  # UserServiceV2_Running of the example, due by 10:10
HOUR = 60 * MIN


class Clock:
    """The alerter's clock, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def at(self, now: float) -> float:
        self.now = now
        return now


class Stalls:
    """The open stalls as the engine would give them: the example's, until it is seen; and the
    rollouts each look asked about (None: all)."""

    def __init__(self) -> None:
        self.open = [OpenStall(stall(), view())]
        self.asked: list[Rollouts | None] = []

    def __call__(self, among: Rollouts | None) -> list[OpenStall]:
        self.asked.append(among)
        return [
            stall
            for stall in self.open
            if among is None or (stall.view.expectation, stall.view.rollout) in among
        ]


def reminding(base_url: str, **extra: Any) -> AlertingSettings:
    return slack_settings(
        base_url,
        renotify_after=30 * MIN,
        escalate=Escalation(channel="#incidents", after=HOUR),
        **extra,
    )


@contextmanager
def told(
    settings: AlertingSettings, clock: Clock, stalls: Stalls, outbox: SqliteOutbox
) -> Iterator[Alerter]:
    """An alerter on the driven clock that has told the stall (its window closed)."""
    sentinel = Alerter(settings, outbox, clock=clock, stalls=stalls)
    if outbox.thread(settings.sinks[0].name, stalls.open[0].key) is None:
        sentinel.accept([stall()], views_of(view()), clock.at(DUE + 5))
        sentinel.flush_due(clock.at(DUE + 6))
    yield sentinel


@pytest.fixture
def slack(slack_api: FakeSlack) -> FakeSlack:
    slack_api.channels["#incidents"] = "C0INCIDENTS"
    return slack_api


def test_the_nth_renotification_is_due_n_intervals_after_the_step_was_due() -> None:
    settings = AlertingSettings(
        renotify_after=30 * MIN, escalate=Escalation(channel="#incidents", after=HOUR)
    )
    stalls = [OpenStall(stall(), view())]

    def due(now: float) -> list[tuple[int, str]]:
        return [(r.turn, r.key("slack")) for r in due_reminders(stalls, now, settings)]

    ident = stall().id
    assert due(DUE + 29 * MIN) == []
    assert due(DUE + 30 * MIN) == [(1, f"{ident}:slack:renotify-1")]
    assert due(DUE + 59 * MIN) == [(1, f"{ident}:slack:renotify-1")]
    assert due(DUE + 61 * MIN) == [
        (2, f"{ident}:slack:renotify-2"),
        (ESCALATION, f"{ident}:slack:escalate"),
    ]
    # Beyond what the outbox remembers of a delivery, an escalation is never due again.
    assert due(DUE + HOUR + 8 * 24 * HOUR) == [(386, f"{ident}:slack:renotify-386")]
    assert due_reminders(stalls, DUE + 5 * HOUR, AlertingSettings()) == []


async def test_a_stall_is_told_again_in_its_thread_every_interval_and_escalated_once(
    slack: FakeSlack,
) -> None:
    clock, stalls = Clock(DUE), Stalls()
    with told(reminding(slack.base_url), clock, stalls, SqliteOutbox(":memory:")) as sentinel:
        async with sending(sentinel):
            await eventually(lambda: len(slack.messages) == 1)
            [parent] = slack.messages
            assert "due by 10:10, nothing seen yet" in everything(parent.blocks)

            sentinel.flush_due(clock.at(DUE + 29 * MIN))
            await settle(0.3)
            assert len(slack.messages) == 1
            sentinel.flush_due(clock.at(DUE + 30 * MIN + 5))
            await eventually(lambda: len(slack.messages) == 2)
            for later in (20, 40, 25 * 60):  # the same turn: nothing more
                sentinel.flush_due(clock.at(DUE + 30 * MIN + later))
            await settle(0.3)
            assert len(slack.messages) == 2
            sentinel.flush_due(clock.at(DUE + HOUR + 7))
            await eventually(lambda: len(slack.messages) == 4)
            sentinel.flush_due(clock.at(DUE + HOUR + 30))
            await settle(0.3)

    first, second = slack.replies(parent)
    assert first.text == (
        "user-service-v2 rollout 42: Still stalled: UserServiceV2_Running: due by 10:10, "
        "overdue by 30m5s, nothing seen yet"
    )
    assert everything(first.blocks) == (
        "🔴 *Still stalled:* UserServiceV2_Running: due by 10:10, overdue by 30m5s, "
        "nothing seen yet"
    )
    assert "overdue by 1h7s" in second.text
    [escalation] = slack.in_channel("C0INCIDENTS")
    assert escalation.thread_ts is None
    assert escalation.text == (
        "🔴 Escalated: user-service-v2 rollout 42: UserServiceV2_Running: due by 10:10, "
        "overdue by 1h7s, nothing seen yet"
    )
    assert escalation.blocks[0]["text"]["text"] == "🔴 Escalated: user-service-v2"
    shown = everything(escalation.blocks)
    assert "`42`: UserServiceV2_Running: due by 10:10, overdue by 1h7s" in shown
    assert f"<{slack.permalink(parent)}|Open the alert's thread>" in shown
    assert "🔴 UserServiceV2_Running: due by 10:10, overdue by 1h7s, nothing seen yet" in shown
    assert "Escalated: still open 1h after it was due" in shown


async def test_a_recovered_step_or_a_closed_rollout_is_not_told_again(slack: FakeSlack) -> None:
    clock, stalls = Clock(DUE), Stalls()
    with told(reminding(slack.base_url), clock, stalls, SqliteOutbox(":memory:")) as sentinel:
        async with sending(sentinel):
            await eventually(lambda: len(slack.messages) == 1)
            stalls.open = []  # the step was seen: the engine has no open stall
            sentinel.flush_due(clock.at(DUE + 2 * HOUR))
            await settle(0.3)
            assert len(slack.messages) == 1

            # Closed: its thread is resolved, even if a stale view still listed the stall.
            stalls.open = Stalls().open
            done = view(running_seen=DUE + 3 * HOUR, phase=Phase.COMPLETED)
            sentinel.accept([completed(at=DUE + 3 * HOUR)], views_of(done), clock.now)
            sentinel.flush_due(clock.at(DUE + 3 * HOUR))
            await eventually(lambda: len(slack.messages) == 2)  # the completion's reply
            sentinel.flush_due(clock.at(DUE + 4 * HOUR))
            await settle(0.3)
    assert "Completed" in slack.messages[1].text
    assert not slack.in_channel("C0INCIDENTS")
    assert all("Still stalled" not in message.text for message in slack.messages)


async def test_each_turn_is_told_once_across_restarts(slack: FakeSlack, tmp_path: Path) -> None:
    clock, stalls, path = Clock(DUE), Stalls(), tmp_path / "state.db"
    settings = reminding(slack.base_url)

    async def run(*moments: float) -> None:
        """A sentinel's life: opened on the state file, the clock moved, stopped."""
        outbox = SqliteOutbox(path)
        with told(settings, clock, stalls, outbox) as sentinel:
            async with sending(sentinel):
                for moment in moments:
                    sentinel.flush_due(clock.at(moment))
                await settle(0.5)
        outbox.close()

    await run(DUE + 30 * MIN + 1)
    assert len(slack.messages) == 2  # the parent, the first re-notification
    await run(DUE + 30 * MIN + 20, DUE + 59 * MIN)
    assert len(slack.messages) == 2
    await run(DUE + HOUR + 1)
    assert len(slack.messages) == 4  # the second, and the escalation
    await run(DUE + HOUR + 30, DUE + 89 * MIN)
    await run(DUE + 95 * MIN)
    [parent] = slack.parents()[:1]
    assert [reply.text.split("overdue by ")[1][:5] for reply in slack.replies(parent)] == [
        "30m1s",
        "1h1s,",
        "1h35m",
    ]
    assert len(slack.in_channel("C0INCIDENTS")) == 1


async def test_the_stall_a_state_file_kept_is_told_again_after_a_restart_once_a_turn(
    slack: FakeSlack, tmp_path: Path
) -> None:
    """As `sentinel run` wires it: the pipeline keeps the stall, its rollout and its alert in
    the state file; a new process restores the engine from it, and the restored open stall's
    turns go out once each, whichever process reaches them."""
    settings = reminding(slack.base_url, alert_on=frozenset({Kind.STALL}))  # no schemas here
    due = ENGINE_T0 + 10 * MIN
    clock = Clock(ENGINE_T0)

    def start() -> tuple[Pipeline, Alerter, SqliteStore]:
        store = SqliteStore(tmp_path / "state.db")
        engine = Engine([user_service()])
        stalls = functools.partial(open_stalls, engine)
        alerter = Alerter(settings, store.outbox(), clock=clock, stalls=stalls)
        pipeline = Pipeline(engine, store, BusDecoder(), alerter)
        pipeline.restore()
        return pipeline, alerter, store

    def at(now: float) -> None:
        pipeline.process([], WallClock(clock.at(now)))

    pipeline, alerter, store = start()
    ready = Envelope("SchemaV2_Ready", "e1", "/tests", ENGINE_T0, {"rollout_id": "r1"})
    async with sending(alerter):
        pipeline.process([record(ready, 0, read_at=ENGINE_T0)], WallClock(ENGINE_T0))
        at(due + 5)  # the stall, held for the grouping window
        at(due + 6)
        await eventually(lambda: len(slack.messages) == 1)
        at(due + 30 * MIN + 1)
        await eventually(lambda: len(slack.messages) == 2)
        await settle(0.3)
    store.close()

    pipeline, alerter, store = start()
    async with sending(alerter):
        at(due + 30 * MIN + 30)
        await settle(0.3)
        assert len(slack.messages) == 2
        at(due + HOUR + 1)
        await eventually(lambda: len(slack.messages) == 4)
        await settle(0.3)
    store.close()

    [parent] = slack.parents()[:1]
    assert [reply.text.split(": ", 2)[2] for reply in slack.replies(parent)] == [
        "UserServiceV2_Running: due by 10:10, overdue by 30m1s, nothing seen yet",
        "UserServiceV2_Running: due by 10:10, overdue by 1h1s, nothing seen yet",
    ]
    [escalation] = slack.in_channel("C0INCIDENTS")
    assert "rollout r1: UserServiceV2_Running: due by 10:10, overdue by 1h1s" in escalation.text


async def test_without_threads_a_reminder_is_a_message_of_its_own_and_machines_get_none(
    receiver: FakeReceiver,
) -> None:
    hook = SlackWebhookSettings(url=f"{receiver.url}/slack-hook", timeout=2.0)
    machine = WebhookSettings(url=f"{receiver.url}/hook", secret="s3cret", timeout=2.0)
    settings = AlertingSettings(
        sinks=(hook, machine), window=0.2, renotify_after=30 * MIN, retry_initial=0.1
    )
    clock, stalls = Clock(DUE), Stalls()
    with told(settings, clock, stalls, SqliteOutbox(":memory:")) as sentinel:
        async with sending(sentinel):
            await eventually(lambda: len(receiver.served("/slack-hook")) == 1)
            sentinel.flush_due(clock.at(DUE + 30 * MIN))
            await eventually(lambda: len(receiver.served("/slack-hook")) == 2)
            await settle(0.3)
    reminder = receiver.served("/slack-hook")[1].json
    assert reminder["text"] == (
        "🔴 Still stalled: user-service-v2 rollout 42: UserServiceV2_Running: due by 10:10, "
        "overdue by 30m, nothing seen yet"
    )
    shown = everything(reminder["blocks"])
    assert "🔴 UserServiceV2_Running: due by 10:10, overdue by 30m, nothing seen yet" in shown
    assert "Told again every 30m" in shown
    assert len(receiver.served("/hook", 204)) == 1  # the stall itself; Alertmanager repeats


def test_silenced_or_shadowed_stalls_are_not_told_again() -> None:
    settings = reminding("http://127.0.0.1:9/api/")
    for quiet in (
        {"silences": (Silence(until=DUE + 5 * HOUR, expectation="user-service-v2"),)},
        {"expectations": {"user-service-v2": ExpectationAlerting(shadow=True)}},
        {"alert_on": frozenset({Kind.ROLLBACK})},
    ):
        clock, stalls, outbox = Clock(DUE), Stalls(), SqliteOutbox(":memory:")
        with told(settings, clock, stalls, outbox):
            pending = outbox.depth("slack")  # the parent, not yet sent
        muted = Alerter(replace(settings, **quiet), outbox, clock=clock, stalls=stalls)
        muted.flush_due(clock.at(DUE + 2 * HOUR))
        assert outbox.depth("slack") == pending
        # Not muted: the turn's re-notification and the escalation.
        Alerter(settings, outbox, clock=clock, stalls=stalls).flush_due(clock.now)
        assert outbox.depth("slack") == pending + 2


def test_the_engines_open_stalls_are_its_stalled_steps_still_unseen() -> None:
    expectation = Expectation(
        name="user-service-v2",
        owner="team-identity",
        correlate="data.rollout_id",
        steps=(
            Step("SchemaV2_Ready"),
            Step("UserServiceV2_Running", after=("SchemaV2_Ready",), within=10 * MIN),
            Step("Done", after=("UserServiceV2_Running",)),
        ),
    )

    def seen(event_type: str, at: float, rollout: str) -> Envelope:
        data = {"rollout_id": rollout}
        return Envelope(event_type, f"{rollout}-{event_type}", "/tests", at, data)

    engine = Engine([expectation])
    events = [
        seen("SchemaV2_Ready", T0, "a"),
        seen("SchemaV2_Ready", T0, "b"),
        seen("SchemaV2_Ready", T0, "c"),
        seen("UserServiceV2_Running", T0 + 12 * MIN, "b"),
        seen("UserServiceV2_Running", T0 + 12 * MIN, "c"),
        seen("Done", T0 + 13 * MIN, "c"),
    ]
    list(replay(events, engine, read_at=lambda: T0, until=T0 + 20 * MIN))
    found = {(s.finding.rollout, s.finding.step, s.due) for s in open_stalls(engine)}
    # b's step stalled, then was seen (recovered); c completed: only a is still stalled.
    assert found == {("a", "UserServiceV2_Running", DUE)}
    among = [("user-service-v2", key) for key in ("a", "b", "c", "unknown")]
    assert [s.finding.rollout for s in open_stalls(engine, among)] == ["a"]
    assert open_stalls(engine, [("user-service-v2", "b"), ("gone", "a")]) == []


def test_the_open_rollouts_are_walked_first_and_now_and_then_else_those_with_a_stall() -> None:
    clock, stalls = Clock(DUE), Stalls()
    settings = reminding("http://127.0.0.1:9/api/")
    sentinel = Alerter(settings, SqliteOutbox(":memory:"), clock=clock, stalls=stalls)
    sentinel.flush_due(clock.at(DUE))
    sentinel.flush_due(clock.at(DUE + REMIND_EVERY / 2))  # too soon: no look
    sentinel.flush_due(clock.at(DUE + REMIND_EVERY))
    stalls.open = []  # seen
    sentinel.flush_due(clock.at(DUE + 2 * REMIND_EVERY))
    sentinel.flush_due(clock.at(DUE + 3 * REMIND_EVERY))
    # A new stall raised meanwhile is looked at without a walk.
    sentinel.accept([stall("43")], views_of(view("43")), clock.now)
    sentinel.flush_due(clock.at(DUE + 4 * REMIND_EVERY))
    sentinel.flush_due(clock.at(DUE + WALK_EVERY))
    ours = {("user-service-v2", "42")}
    assert stalls.asked == [None, ours, ours, set(), {("user-service-v2", "43")}, None]


def read(text: str) -> AlertingSettings:
    return parse_alerting(Section(yaml.safe_load(text), "alerting", "sentinel.yaml"))


SLACK = "slack: {token: xoxb-1, default_channel: '#rollouts'}\n"


def test_renotify_and_escalate_read_from_the_config() -> None:
    settings = read(SLACK + "renotify_after: 30m\nescalate: {after: 1h, channel: '#incidents'}")
    assert settings.renotify_after == 30 * MIN
    assert settings.escalate == Escalation(channel="#incidents", after=HOUR)
    assert read(SLACK + "escalate: {channel: '#incidents'}").escalate == Escalation("#incidents")
    assert read(SLACK).renotify_after is None
    assert read(SLACK).escalate is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            SLACK + "renotify_after: soon",
            "sentinel.yaml: alerting.renotify_after: 'soon' is not a duration: "
            "write e.g. 90s, 10m, 1h30m, 2d or ISO 8601 PT10M",
        ),
        (
            SLACK + "renotify_after: 10s",
            "sentinel.yaml: alerting.renotify_after: must be at least 1m",
        ),
        (SLACK + "escalate: {after: 1h}", "sentinel.yaml: alerting.escalate.channel: is required"),
        (
            SLACK + "escalate: {channel: '#i', aftr: 1h}",
            "sentinel.yaml: alerting.escalate.aftr: unknown key (did you mean 'after'?)",
        ),
        (
            SLACK + "escalate: {channel: '#i', after: 0s}",
            "sentinel.yaml: alerting.escalate.after: '0s' is not a positive duration",
        ),
        (
            SLACK + "renotify: 30m",
            "sentinel.yaml: alerting.renotify: unknown key (did you mean 'renotify_after'?)",
        ),
        (
            "webhooks: [{url: 'https://h.example'}]\nescalate: {channel: '#i'}",
            "sentinel.yaml: alerting.escalate: needs a sink that posts in a channel (slack:)",
        ),
    ],
)
def test_a_wrong_renotify_or_escalate_is_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        read(text)
    assert str(error.value) == message
