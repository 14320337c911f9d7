"""On-call acts where the alert is, live (contract section 14): `sentinel run` on a real broker
alerts the fake Slack and the fake PagerDuty; a click on the parent's Acknowledge, signed as
Slack signs it and posted to the sentinel's own HTTP address, goes through the watcher's loop
(woken for it): the parent says who acknowledged, PagerDuty gets `acknowledge`, and the
rollout's completion resolves it, all on one dedup key."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from alerting.fakes import FakeSlack
from alerting.vendor_fakes import ROUTING_KEY, FakePagerDuty

from sentinel.kafka.broker import EmbeddedBroker
from sentinel.runtime.wiring import build_watcher

from .watcher_support import (
    MESSAGING,
    SCHEMA,
    SERVICE,
    Findings,
    cloud_event,
    make_config,
    wait_for,
)

pytestmark = pytest.mark.broker
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
Vendors = tuple[FakeSlack, FakePagerDuty]


@pytest.fixture
async def vendors(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[FakeSlack, FakePagerDuty]]:
    slack, pagerduty = FakeSlack(), FakePagerDuty()
    monkeypatch.setenv("TEST_SLACK_TOKEN", slack.token)
    monkeypatch.setenv("TEST_SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("TEST_PD_ROUTING_KEY", ROUTING_KEY)
    await slack.start()
    await pagerduty.start()
    yield slack, pagerduty
    await pagerduty.stop()
    await slack.stop()


def alerting(slack: FakeSlack, pagerduty: FakePagerDuty) -> str:
    return (
        "alerting:\n"
        "  slack:\n"
        "    token_env: TEST_SLACK_TOKEN\n"
        "    signing_secret_env: TEST_SLACK_SIGNING_SECRET\n"
        f"    base_url: {slack.base_url}\n"
        '    default_channel: "#rollouts"\n'
        "  pagerduty:\n"
        "    routing_key_env: TEST_PD_ROUTING_KEY\n"
        f"    url: {pagerduty.enqueue_url}\n"
        "  grouping:\n"
        "    window: 0.2s\n"
        "  retry:\n"
        "    initial: 0.2s\n"
        "    max: 1s\n"
    )


def clicked(parent: Any, action_id: str) -> tuple[bytes, dict[str, str]]:
    """Slack's request for a click on the parent's button, signed as Slack signs it."""
    [button] = [
        element
        for block in parent.blocks
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == action_id
    ]
    payload = {
        "type": "block_actions",
        "user": {"id": "U0ALICE", "username": "alice", "team_id": "T0TEAM"},
        "container": {"type": "message", "message_ts": parent.ts, "channel_id": parent.channel},
        "channel": {"id": parent.channel},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/abc",
        "actions": [{"action_id": action_id, "value": button["value"], "type": "button"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256)
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + signature.hexdigest(),
    }


async def test_a_slack_click_acknowledges_and_pagerduty_sees_trigger_acknowledge_resolve(
    broker: EmbeddedBroker,
    topic_factory: Any,
    produce: Any,
    tmp_path: Path,
    vendors: Vendors,
) -> None:
    slack, pagerduty = vendors
    topic = await topic_factory()
    config = make_config(tmp_path, broker, topic, extra=alerting(slack, pagerduty))
    watcher = build_watcher(config, out=Findings())
    task = asyncio.create_task(watcher.run(handle_signals=False))
    try:
        await wait_for(lambda: bool(watcher.source.assigned()), what="partitions assigned")
        await produce(topic, cloud_event("SchemaV2_Ready", "a1", "k1", **SCHEMA))
        await wait_for(lambda: len(slack.parents()) == 1, 20, "the parent message")
        await wait_for(lambda: len(pagerduty.events()) == 1, 20, "the trigger")
        [parent] = slack.parents()
        body, headers = clicked(parent, "sentinel-acknowledge")
        url = f"http://127.0.0.1:{watcher.parts.http.port}/slack/actions"
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body, headers=headers) as answer,
        ):
            assert answer.status == 200
        await wait_for(lambda: parent.updates >= 1, 20, "the parent updated")
        assert "Acknowledged by alice (Slack)" in json.dumps(parent.blocks, ensure_ascii=False)
        await wait_for(lambda: len(pagerduty.events()) == 2, 20, "the acknowledgement")
        await produce(topic, cloud_event("UserServiceV2_Running", "a1", "k2", **SERVICE))
        await produce(topic, cloud_event("MessagingService_Reconfigured", "a1", "k3", **MESSAGING))
        await wait_for(lambda: len(pagerduty.events()) == 3, 20, "the resolve")
        events = [(e["event_action"], e["dedup_key"]) for e in pagerduty.events()]
        [key] = {key for _, key in events}
        assert [action for action, _ in events] == ["trigger", "acknowledge", "resolve"]
        assert key.endswith("/a1")
        assert pagerduty.incidents[key].status == "resolved"
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 30)
