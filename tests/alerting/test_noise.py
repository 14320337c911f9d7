"""Issue 22: event-level noise (a flood of unknown event types) is one digest per channel and
interval for people, and never delays a rollout's alert: lanes per channel, rollouts first.
Through the real Alerter, outbox, sink worker and slack-sdk against the fake Slack over HTTP."""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any

import pytest

from sentinel.alerting.alerter import DIGEST_SAMPLE
from sentinel.alerting.grouper import Context, EventGroup
from sentinel.alerting.settings import AlertingSettings
from sentinel.alerting.sinks.alertmanager import AlertmanagerSettings
from sentinel.alerting.sinks.slack_digest import render_digest
from sentinel.alerting.sinks.slack_webhook import SlackWebhookSettings
from sentinel.alerting.sinks.webhook import WebhookSettings
from sentinel.core.engine.findings import Finding, Kind
from sentinel.store.sqlite_outbox import SqliteOutbox

from .fakes import FakeReceiver, FakeSlack, rate_limited
from .helpers import (
    OWNER,
    T0,
    alerter,
    eventually,
    schema_violation,
    sending,
    settle,
    slack_settings,
    stall,
    view,
    views_of,
)

FLOOD = 1000
WINDOW = 1.0
# What "a few seconds" allows beyond the window: Slack's one message per second per channel
# (the digest may have just been posted in the stall's channel), and a slow shared machine.
SLACK_SLACK = 3.0


def unknown_types(count: int) -> list[Finding]:
    """What a producer with a UUID in its type name does by accident."""
    return [
        Finding(Kind.UNREGISTERED_EVENT, T0 + n * 0.01, event_type=f"OrderPlaced.{uuid.uuid4()}")
        for n in range(count)
    ]


@pytest.mark.parametrize(
    ("owner", "channel"),
    [(None, "C0ROLLOUTS"), (OWNER, "C0IDENTITY")],
    ids=["same channel as the noise", "another channel"],
)
@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_a_stall_behind_a_thousand_unknown_event_types_alerts_within_its_window(
    slack_api: FakeSlack, owner: str | None, channel: str
) -> None:
    slack_api.limit_rate()
    sentinel = alerter(slack_settings(slack_api.base_url, window=WINDOW, event_interval=60.0))
    finding = stall(owner=owner)
    async with sending(sentinel):
        flood = unknown_types(FLOOD)
        for start in range(0, FLOOD, 100):  # as the watcher's batches bring them
            sentinel.accept(flood[start : start + 100], views_of(), time.time())
        await eventually(lambda: len(slack_api.in_channel("C0ROLLOUTS")) == 1, WINDOW + 5)
        # The stall comes right after the digest went out: in the same channel, Slack's rate
        # limit answers its first post 429.
        raised = time.monotonic()
        sentinel.accept([finding], views_of(view()), time.time())
        await eventually(
            lambda: any("Stalled" in m.text for m in slack_api.in_channel(channel)),
            WINDOW + SLACK_SLACK + 5,
        )
        latency = time.monotonic() - raised
        await settle(1.2)

    assert latency <= WINDOW + SLACK_SLACK
    digests = [m for m in slack_api.in_channel("C0ROLLOUTS") if "Stalled" not in m.text]
    [digest] = digests  # one message for the whole flood
    assert digest.text.startswith(f"{FLOOD:,} new unknown event types: OrderPlaced.")
    assert digest.text.endswith(f", … and {FLOOD - 3:,} more")
    assert sentinel.status()["slack"]["pending"] == 0


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_a_digest_never_delays_a_stall_queued_after_it_in_its_channel(
    slack_api: FakeSlack,
) -> None:
    sentinel = alerter(slack_settings(slack_api.base_url, window=WINDOW, event_interval=60.0))
    slack_api.fail_next_in("#rollouts", rate_limited(2))
    async with sending(sentinel):
        sentinel.accept(unknown_types(FLOOD), views_of(), time.time())
        await eventually(lambda: any(r.status == 429 for r in slack_api.requests), WINDOW + 5)
        # The digest waits for its Retry-After; the stall is queued behind it meanwhile.
        sentinel.accept([stall(owner=None)], views_of(view()), time.time())
        await eventually(lambda: len(slack_api.in_channel("C0ROLLOUTS")) == 2, WINDOW + 8)
        await settle(0.3)

    stalled, digest = slack_api.in_channel("C0ROLLOUTS")
    assert stalled.text.startswith("🔴 Stalled")
    assert digest.text.startswith(f"{FLOOD:,} new unknown event types")


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
async def test_a_rate_limited_channel_does_not_hold_up_another(slack_api: FakeSlack) -> None:
    sentinel = alerter(slack_settings(slack_api.base_url))
    slack_api.fail_next_in("#rollouts", rate_limited(3))
    async with sending(sentinel):
        started = time.monotonic()
        # The same window: the first in the sink's order is the one rate limited.
        sentinel.accept(
            [stall("a", owner=None), stall("b")], views_of(view("a"), view("b")), time.time()
        )
        await eventually(lambda: len(slack_api.in_channel("C0IDENTITY")) == 1, within=5)
        assert time.monotonic() - started < 1.5
        assert slack_api.in_channel("C0ROLLOUTS") == []
        await eventually(lambda: len(slack_api.in_channel("C0ROLLOUTS")) == 1, within=6)
        assert time.monotonic() - started >= 3.0
        await settle(0.3)
    assert len(slack_api.messages) == 2


async def test_an_incoming_webhook_gets_one_digest_and_the_stall_first(
    receiver: FakeReceiver,
) -> None:
    hook = SlackWebhookSettings(url=f"{receiver.url}/slack-hook", timeout=2.0)
    sentinel = alerter(AlertingSettings(sinks=(hook,), window=0.2))
    now = time.time()
    async with sending(sentinel):
        sentinel.accept(unknown_types(FLOOD), views_of(), now)
        sentinel.accept([stall()], views_of(view()), now)
        await eventually(lambda: len(receiver.served("/slack-hook")) == 2)
        await settle(0.3)
    stalled, digest = (request.json for request in receiver.served("/slack-hook"))
    assert stalled["text"].startswith("🔴 Stalled")
    assert digest["text"].startswith(f"{FLOOD:,} new unknown event types: OrderPlaced.")
    assert "channel" not in digest  # an incoming webhook has its channel


def _webhook_kinds(body: Any) -> list[str]:
    return [body["kind"]]


def _alertmanager_kinds(body: Any) -> list[str]:
    return [alert["labels"]["kind"] for alert in body]


@pytest.mark.parametrize("sink", ["webhook", "alertmanager"])
async def test_machines_get_every_unknown_type_but_a_stall_goes_ahead_of_them(
    receiver: FakeReceiver, sink: str
) -> None:
    if sink == "webhook":
        settings = AlertingSettings(
            sinks=(WebhookSettings(url=f"{receiver.url}/hook", secret="s3cret"),)
        )
        path, status, kinds = "/hook", 204, _webhook_kinds
    else:
        settings = AlertingSettings(sinks=(AlertmanagerSettings(url=receiver.url),))
        path, status, kinds = "/api/v2/alerts", 200, _alertmanager_kinds
    sentinel = alerter(settings)
    noise = 300
    async with sending(sentinel):
        sentinel.accept(unknown_types(noise), views_of(), time.time())
        await eventually(lambda: len(receiver.served(path, status)) >= 5)
        before = len(receiver.served(path, status))
        sentinel.accept([stall()], views_of(view()), time.time())
        await eventually(lambda: len(receiver.served(path, status)) == noise + 1, within=30)
        await settle(0.3)

    served = [kinds(request.json) for request in receiver.served(path, status)]
    position = served.index(["stall"])
    assert position <= before + 10  # about the next one, not after the remaining noise
    assert sum(entry == ["unregistered_event"] for entry in served) == noise  # one each


def test_a_digest_of_any_flood_stays_within_slacks_limits() -> None:
    long_names = [
        Finding(Kind.UNREGISTERED_EVENT, T0 + n, event_type="X" * 500 + str(n)) for n in range(30)
    ]
    every_kind = [
        *long_names,
        *(schema_violation(str(n), "Y" * 400) for n in range(30)),
        Finding(Kind.MALFORMED, T0, reason="R" * 5000),
        Finding(Kind.BUS_SILENT, T0, reason="no record for 5m"),
        Finding(Kind.UNCORRELATED, T0, "e", event_type="A", event_id="1"),
        Finding(Kind.SCHEMA_NOT_FOUND, T0, event_type="B", event_id="2", schema_id=7),
        Finding(Kind.SCHEMA_CHANGED, T0, event_type="C", schema_id=8, previous_schema_id=7),
    ]
    counts = dict.fromkeys((finding.kind for finding in every_kind), 1_000_000)
    digest = EventGroup("digest|#rollouts", "#rollouts", tuple(every_kind), counts, T0)
    ctx = Context("slack", T0, AlertingSettings())
    message = render_digest(digest, ctx)
    assert len(message.text) <= 3000
    assert len(message.blocks) <= 50
    for block in message.blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= 3000
    assert message.blocks[0]["text"]["text"] == "🔴 7,000,000 findings about events"
    assert message.text.startswith("1,000,000 bus silences: no record for 5m; 1,000,000 new")


@pytest.mark.slow  # waits out real windows and Retry-After: `make test`, not `make unit`
def test_a_flood_of_distinct_types_holds_a_bounded_number_of_rows() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    sentinel = alerter(slack_settings("http://127.0.0.1:9/api/"), SqliteOutbox(conn))
    now = time.time()
    sentinel.accept(unknown_types(5000), views_of(), now)

    def rows() -> int:
        return int(conn.execute("SELECT COUNT(*) FROM alert_held").fetchone()[0])

    assert rows() == DIGEST_SAMPLE + 1
    assert sentinel.status()["slack"]["pending"] == 5000
    sentinel.flush_due(now + 1)
    assert sentinel.status()["slack"]["pending"] == 1  # the digest
    sentinel.accept(unknown_types(5000), views_of(), now + 2)
    sentinel.flush_due(now + 700)  # the next interval's digest
    assert rows() == DIGEST_SAMPLE + 1  # the first window's rows are forgotten


def test_a_type_name_in_a_digest_pings_nobody() -> None:
    sneaky = Finding(Kind.UNREGISTERED_EVENT, T0, event_type="<!channel> & co")
    digest = EventGroup("digest|#rollouts", "#rollouts", (sneaky,), {sneaky.kind: 1}, T0)
    message = render_digest(digest, Context("slack", T0, AlertingSettings()))
    assert message.text == "1 new unknown event type: &lt;!channel&gt; &amp; co"
    assert "`&lt;!channel&gt; &amp; co`" in message.blocks[1]["text"]["text"]
