"""The alerter as the watcher uses it: accept never waits, a finding alerts once however often it
is raised, silences change without a restart, and the metrics and status tell the story."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from sentinel.alerting.alerter import Alerter
from sentinel.alerting.settings import AlertingSettings, ExpectationAlerting
from sentinel.alerting.sinks.webhook import WebhookSettings
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.ports.outbox import Item
from sentinel.store.sqlite_outbox import SqliteOutbox

from .fakes import FakeReceiver, FakeSlack
from .helpers import (
    EXPECTATION,
    T0,
    eventually,
    metrics,
    sample,
    sending,
    settle,
    slack_settings,
    stall,
    view,
    views_of,
)


async def test_a_finding_raised_again_is_alerted_once_even_after_a_restart(
    slack_api: FakeSlack, tmp_path: Path
) -> None:
    path = tmp_path / "state.db"
    settings = slack_settings(slack_api.base_url)
    first = Alerter(settings, SqliteOutbox(path), None)
    async with sending(first):
        first.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
        first.accept([stall()], views_of(view()), time.time())  # a batch read again
        await settle(0.5)
    second = Alerter(settings, SqliteOutbox(path), None)
    async with sending(second):
        second.accept([stall()], views_of(view()), time.time())
        await settle(0.6)
    assert len(slack_api.messages) == 1
    assert len(slack_api.requests) == 1


async def test_nothing_is_delivered_while_the_watcher_holds_deliveries(
    slack_api: FakeSlack,
) -> None:
    """The watcher holds them from a batch's transaction until its changelog is acknowledged."""
    sentinel = Alerter(slack_settings(slack_api.base_url), SqliteOutbox(":memory:"), None)
    async with sending(sentinel):
        sentinel.hold()
        sentinel.accept([stall()], views_of(view()), time.time())
        sentinel.flush_due(time.time())
        await settle(0.5)
        assert slack_api.messages == []
        sentinel.release()
        await eventually(lambda: len(slack_api.messages) == 1)


async def test_accept_only_writes_to_the_outbox(slack_api: FakeSlack) -> None:
    sentinel = Alerter(slack_settings(slack_api.base_url), SqliteOutbox(":memory:"), None)
    rollouts = [str(number) for number in range(500)]
    started = time.perf_counter()
    sentinel.accept(
        [stall(rollout) for rollout in rollouts],
        views_of(*(view(rollout) for rollout in rollouts)),
        time.time(),
    )
    took = time.perf_counter() - started
    await settle(0.3)
    assert slack_api.requests == []
    assert sentinel.status()["slack"]["pending"] == 500
    assert took < 1.0


async def test_depth_and_delivery_time_are_measured(receiver: FakeReceiver) -> None:
    m = metrics()
    hook = WebhookSettings(url=f"{receiver.url}/hook", secret="s3cret")
    # Slack is unreachable on purpose: it must not hold up the webhook.
    settings = slack_settings("http://127.0.0.1:9/api/", others=(hook,))
    sentinel = Alerter(settings, SqliteOutbox(":memory:"), m)
    receiver.unavailable(0.5)
    sentinel.accept([stall("a"), stall("b")], views_of(view("a"), view("b")), time.time())
    assert sample(m, "sentinel_alert_outbox_depth", sink="webhook") == 2
    async with sending(sentinel):
        await eventually(lambda: len(receiver.served("/hook", 204)) == 2)
        await settle(0.2)
    assert sample(m, "sentinel_alert_outbox_depth", sink="webhook") == 0
    assert sample(m, "sentinel_alert_delivery_seconds_count", sink="webhook") == 2
    assert sample(m, "sentinel_alert_delivery_seconds_sum", sink="webhook") >= 0.9


def test_a_silence_added_to_the_file_applies_without_a_restart(tmp_path: Path) -> None:
    silences = tmp_path / "silences.yaml"
    m = metrics()
    settings = slack_settings("http://127.0.0.1:9/api/", silences_file=silences)
    sentinel = Alerter(settings, SqliteOutbox(":memory:"), m)
    now = time.time()
    sentinel.accept([stall("a")], views_of(view("a")), now)
    silences.write_text(f"- expectation: {EXPECTATION}\n  until: '2030-01-01T00:00:00Z'\n")
    sentinel.accept([stall("b")], views_of(view("b")), now + 2)
    silences.write_text("[]\n")
    os.utime(silences, ns=(time.time_ns(), time.time_ns() + 10**9))
    sentinel.accept([stall("c")], views_of(view("c")), now + 4)
    assert sample(m, "sentinel_alerts_sent_total", sink="slack", outcome="silenced") == 1
    assert sentinel.status()["slack"]["pending"] == 2  # a and c


def test_a_broken_edit_of_the_silences_file_keeps_the_silences_in_force(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    silences = tmp_path / "silences.yaml"
    silences.write_text(f"- expectation: {EXPECTATION}\n  until: '2030-01-01T00:00:00Z'\n")
    settings = slack_settings("http://127.0.0.1:9/api/", silences_file=silences)
    sentinel = Alerter(settings, SqliteOutbox(":memory:"), None)
    now = time.time()
    silences.write_text("- expectation: [not, a, name\n")
    os.utime(silences, ns=(time.time_ns(), time.time_ns() + 10**9))
    sentinel.accept([stall("a")], views_of(view("a")), now + 2)
    assert sentinel.status()["slack"]["pending"] == 0
    assert any("not valid YAML" in record.getMessage() for record in caplog.records)


def test_an_expired_silence_no_longer_holds_anything_back(tmp_path: Path) -> None:
    silences = tmp_path / "silences.yaml"
    silences.write_text("- owner: team-identity\n  until: '2025-01-01T00:00:00Z'\n")
    settings = slack_settings("http://127.0.0.1:9/api/", silences_file=silences)
    sentinel = Alerter(settings, SqliteOutbox(":memory:"), None)
    sentinel.accept([stall()], views_of(view()), time.time())
    assert sentinel.status()["slack"]["pending"] == 1


def test_a_shadow_expectation_alerts_nobody_and_is_counted() -> None:
    m = metrics()
    settings = slack_settings(
        "http://127.0.0.1:9/api/", expectations={EXPECTATION: ExpectationAlerting(shadow=True)}
    )
    sentinel = Alerter(settings, SqliteOutbox(":memory:"), m)
    sentinel.accept([stall("a"), stall("b")], views_of(view("a"), view("b")), time.time())
    assert sentinel.status()["slack"]["pending"] == 0
    assert sample(m, "sentinel_alerts_sent_total", sink="slack", outcome="shadow") == 2


def test_kinds_left_out_of_alert_on_are_not_alerted() -> None:
    settings = slack_settings("http://127.0.0.1:9/api/", alert_on=frozenset({Kind.STALL}))
    sentinel = Alerter(settings, SqliteOutbox(":memory:"), None)
    out_of_order = Finding(Kind.OUT_OF_ORDER, T0, EXPECTATION, "42", "B", missing=("A",))
    sentinel.accept([out_of_order], views_of(view()), time.time())
    assert sentinel.status()["slack"]["pending"] == 0


def test_status_before_the_sender_runs_shows_every_sink_as_ok() -> None:
    hook = WebhookSettings(url="http://127.0.0.1:9/hook")
    sentinel = Alerter(
        slack_settings("http://127.0.0.1:9/api/", others=(hook,)), SqliteOutbox(":memory:"), None
    )
    status = sentinel.status()
    assert set(status) == {"slack", "webhook"}
    assert status["slack"]["ok"] is True
    assert status["slack"]["pending"] == 0


async def test_stopping_the_sender_leaves_undelivered_alerts_in_the_outbox(
    slack_api: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="sentinel.alerting")
    sentinel = Alerter(slack_settings(slack_api.base_url), SqliteOutbox(":memory:"), None)
    await slack_api.outage(10)
    async with sending(sentinel):
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: sentinel.status()["slack"]["retrying"])
    assert sentinel.status()["slack"]["pending"] == 1
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot reach the sink" in warnings[0].getMessage()


async def test_an_item_the_sender_cannot_handle_is_set_aside_and_the_rest_delivered(
    receiver: FakeReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = SqliteOutbox(":memory:")
    hook = WebhookSettings(url=f"{receiver.url}/hook", secret="s3cret")
    sentinel = Alerter(AlertingSettings(sinks=(hook,)), outbox, None)
    # As an older or newer sentinel might have left it: a payload this one does not know.
    outbox.enqueue(Item("odd:webhook:post", "webhook", {"unknown": True}, time.time()))
    sentinel.accept([stall()], views_of(view()), time.time())
    async with sending(sentinel):
        await eventually(lambda: len(receiver.requests) == 1)
    assert receiver.requests[0].json["kind"] == "stall"
    assert sentinel.status()["webhook"]["failed"] == 1
    assert any("odd:webhook:post" in record.getMessage() for record in caplog.records)
