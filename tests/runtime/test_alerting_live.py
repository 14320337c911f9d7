"""Findings of the live watcher reach Slack (a fake Web API over real HTTP), once, even across
a SIGKILL with the alert still undelivered."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alerting.fakes import FakeSlack

from sentinel.kafka.broker import EmbeddedBroker
from sentinel.runtime.wiring import build_watcher

from .watcher_support import SCHEMA, SERVICE, Findings, Process, cloud_event, make_config, wait_for

pytestmark = pytest.mark.broker


def slack_section(slack: FakeSlack) -> str:
    return (
        "alerting:\n"
        "  slack:\n"
        "    token_env: TEST_SLACK_TOKEN\n"
        f"    base_url: {slack.base_url}\n"
        '    default_channel: "#rollouts"\n'
        "    channels:\n"
        '      team-identity: "#identity-oncall"\n'
        "  grouping:\n"
        "    window: 0.2s\n"
        "  retry:\n"
        "    initial: 0.2s\n"
        "    max: 1s\n"
    )


@pytest.fixture
async def slack(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    monkeypatch.setenv("TEST_SLACK_TOKEN", server.token)
    await server.start()
    yield server
    await server.stop()


async def test_a_stall_posts_a_parent_and_its_recovery_replies_and_updates_it(
    broker: EmbeddedBroker, topic_factory: Any, produce: Any, tmp_path: Path, slack: FakeSlack
) -> None:
    topic = await topic_factory()
    config = make_config(tmp_path, broker, topic, extra=slack_section(slack))
    watcher = build_watcher(config, out=Findings())
    task = asyncio.create_task(watcher.run(handle_signals=False))
    try:
        await wait_for(lambda: bool(watcher.source.assigned()), what="partitions assigned")
        await produce(topic, cloud_event("SchemaV2_Ready", "s1", "p1", **SCHEMA))
        await wait_for(lambda: len(slack.parents()) == 1, 20, "the parent message")
        (parent,) = slack.parents()
        assert "UserServiceV2_Running" in parent.text
        assert "s1" in parent.text
        assert parent.channel == "C0ROLLOUTS"  # team-users has no channel of its own
        await produce(topic, cloud_event("UserServiceV2_Running", "s1", "p2", **SERVICE))
        await wait_for(lambda: bool(slack.replies(parent)), 20, "a reply in the thread")
        await wait_for(lambda: parent.updates >= 1, 20, "the parent updated in place")
        _, details = watcher.readiness()
        assert all(state["ok"] for state in details["alerting"].values())
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 30)


async def test_an_alert_undelivered_at_a_sigkill_is_delivered_once_after_the_restart(
    broker: EmbeddedBroker, topic_factory: Any, produce: Any, tmp_path: Path, slack: FakeSlack,
    processes: list[Process],
) -> None:  # fmt: skip
    topic = await topic_factory()
    config = make_config(
        tmp_path, broker, topic, group_id="alert-kill", state_path=tmp_path / "state.db",
        extra=slack_section(slack),
    )  # fmt: skip
    slack.unavailable(3600)  # Slack is down: the alert waits in the outbox
    first = Process(config.source, tmp_path, "first")
    processes.append(first)
    await first.wait_ready()
    await produce(topic, cloud_event("SchemaV2_Ready", "s2", "q1", at=time.time(), **SCHEMA))
    await wait_for(lambda: "stall" in first.kinds(), 30, "the stall")
    await wait_for(lambda: len(slack.served("/api/chat.postMessage", 503)) >= 1, 20, "a try")
    assert await asyncio.to_thread(first.stop, signal.SIGKILL) == -signal.SIGKILL
    slack.unavailable(0)
    second = Process(config.source, tmp_path, "second")
    processes.append(second)
    await wait_for(lambda: len(slack.parents()) == 1, 30, "the alert after the restart")
    await asyncio.sleep(2)
    assert len(slack.parents()) == 1, "delivered exactly once"
    assert "s2" in slack.parents()[0].text
    assert second.kinds() == [], "the stall itself is not reported again"
    assert await asyncio.to_thread(second.stop) == 0
