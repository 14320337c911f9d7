"""Where an alert points into the rollout's trace (contract section 13), against the fake
receivers over real HTTP: Slack's parent message (the bot, with slack-sdk's own client, and an
incoming webhook) gets an "Open trace" link button, kept within Slack's rules; a webhook gets
the finding's JSON with its trace; Alertmanager gets the trace as annotations, never labels."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from sentinel.alerting.settings import AlertingSettings
from sentinel.alerting.sinks.alertmanager import AlertmanagerSettings
from sentinel.alerting.sinks.slack_webhook import SlackWebhookSettings
from sentinel.alerting.sinks.webhook import WebhookSettings
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.tracing import finding_span_id, link_values, trace_id_of, trace_link

from .fakes import FakeReceiver, FakeSlack
from .helpers import (
    EXPECTATION,
    MIN,
    T0,
    alerter,
    eventually,
    recovered,
    sending,
    settle,
    slack_settings,
    stall,
    view,
    views_of,
)

TEMPLATE = "https://tempo.example/trace/{trace_id}?span={span_id}&from={start_ms}&to={end_ms}"
PRODUCER = "4bf92f3577b34da6a3ce929d0e0e4736"
QUICK: dict[str, Any] = {"window": 0.2, "retry_initial": 0.1, "retry_max": 0.4}


def traced(finding: Finding, template: str | None = TEMPLATE) -> Finding:
    """`finding` as the engine raises it with `tracing.trace_url`: in its rollout's trace
    (opened at T0), its producer's trace behind it, linked to its own span."""
    assert finding.rollout is not None
    trace = trace_id_of(EXPECTATION, finding.rollout, T0)
    finding = replace(finding, trace_id=trace, event_trace_ids=(PRODUCER,))
    if template is None:
        return finding
    span = finding_span_id(finding.id)
    values = link_values(trace, span, EXPECTATION, finding.rollout, finding.step, T0, finding.at)
    return replace(finding, trace_url=trace_link(template, values))


def buttons(blocks: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(action_id, label, url) of every button of the message."""
    return [
        (button["action_id"], button["text"]["text"], button["url"])
        for block in blocks
        if block["type"] == "actions"
        for button in block["elements"]
    ]


async def test_the_parent_message_opens_the_trace_as_its_newest_finding_links_it(
    slack_api: FakeSlack,
) -> None:
    dashboard = "https://grafana.example/d/rollouts?var-rollout={rollout}"
    sentinel = alerter(slack_settings(slack_api.base_url, dashboard_url=dashboard))
    first, later = traced(stall()), traced(recovered())
    async with sending(sentinel):
        sentinel.accept([first], views_of(view()), time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
        late = view(running_seen=T0 + 12 * MIN)
        sentinel.accept([later], views_of(late), time.time())
        await eventually(lambda: slack_api.messages[0].updates == 1)
        await settle(0.3)

    parent = slack_api.messages[0]
    # Slack took it (the fake refuses buttons without an action_id, or duplicated ones), and
    # the link now covers the trace up to the recovery.
    assert buttons(parent.blocks) == [
        ("sentinel-dashboard", "Dashboard", "https://grafana.example/d/rollouts?var-rollout=42"),
        ("sentinel-trace", "Open trace", later.trace_url),
    ]
    assert first.trace_url != later.trace_url
    assert f"/trace/{first.trace_id}?span={later.span_id}&from={T0 * 1000:.0f}&" in (
        later.trace_url or ""
    )
    replies = slack_api.replies(parent)
    assert replies and all(buttons(reply.blocks) == [] for reply in replies)


async def test_without_a_link_there_is_no_trace_button(slack_api: FakeSlack) -> None:
    sentinel = alerter(slack_settings(slack_api.base_url))
    async with sending(sentinel):
        sentinel.accept([traced(stall(), template=None)], views_of(view()), time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
    assert buttons(slack_api.messages[0].blocks) == []


async def test_a_link_longer_than_slack_takes_is_left_out_not_the_message(
    slack_api: FakeSlack,
) -> None:
    runbook = "https://runbooks.example/{expectation}"
    sentinel = alerter(slack_settings(slack_api.base_url, runbook_url=runbook))
    long = traced(stall(), template="https://tempo.example/" + "x" * 3000 + "{trace_id}")
    async with sending(sentinel):
        sentinel.accept([long], views_of(view()), time.time())
        await eventually(lambda: len(slack_api.messages) == 1)
    assert [label for _, label, _ in buttons(slack_api.messages[0].blocks)] == ["Runbook"]


async def test_an_incoming_webhooks_message_opens_the_trace_too(receiver: FakeReceiver) -> None:
    hook = SlackWebhookSettings(url=f"{receiver.url}/slack-hook", timeout=2.0)
    sentinel = alerter(AlertingSettings(sinks=(hook,), **QUICK))
    finding = traced(stall())
    async with sending(sentinel):
        sentinel.accept([finding], views_of(view()), time.time())
        await eventually(lambda: len(receiver.served("/slack-hook")) == 1)
    [request] = receiver.served("/slack-hook")
    assert buttons(request.json["blocks"]) == [("sentinel-trace", "Open trace", finding.trace_url)]


async def test_a_webhook_gets_the_findings_trace_and_its_link(receiver: FakeReceiver) -> None:
    hook = WebhookSettings(url=f"{receiver.url}/hook", secret="s3cret", timeout=2.0)
    sentinel = alerter(AlertingSettings(sinks=(hook,), **QUICK))
    finding = traced(stall())
    async with sending(sentinel):
        sentinel.accept([finding], views_of(view()), time.time())
        await eventually(lambda: len(receiver.served("/hook", 204)) == 1)
    [request] = receiver.served("/hook", 204)  # signed as ever: the receiver checked it
    body = request.json
    assert body == finding.to_json_dict()
    assert body["trace_id"] == trace_id_of(EXPECTATION, "42", T0)
    assert body["span_id"] == finding_span_id(finding.id)
    assert body["event_trace_ids"] == [PRODUCER]
    assert body["trace_url"] == finding.trace_url
    assert body["trace_url"].startswith(f"https://tempo.example/trace/{body['trace_id']}?")


async def test_alertmanager_gets_the_trace_as_annotations_and_labels_stay_the_same(
    receiver: FakeReceiver,
) -> None:
    sink = AlertmanagerSettings(url=receiver.url, resend_interval=60.0, timeout=2.0)
    sentinel = alerter(AlertingSettings(sinks=(sink,), **QUICK))
    firing, resolving = traced(stall()), traced(recovered())
    async with sending(sentinel):
        sentinel.accept([firing], views_of(view()), time.time())
        await eventually(lambda: len(receiver.served("/api/v2/alerts")) == 1)
        sentinel.accept([resolving], views_of(view(running_seen=T0 + 12 * MIN)), time.time())
        await eventually(lambda: len(receiver.served("/api/v2/alerts")) == 2)
        await settle(0.3)
    sent, ended = (request.json[0] for request in receiver.served("/api/v2/alerts"))
    assert sent["annotations"]["trace_id"] == firing.trace_id
    assert sent["annotations"]["trace_url"] == firing.trace_url
    assert not {"trace_id", "trace_url", "span_id"} & set(sent["labels"])
    # Resolved as the same alert (same labels), still pointing at the stall's span.
    assert ended["labels"] == sent["labels"]
    assert ended["annotations"] == sent["annotations"]
    assert "endsAt" in ended


async def test_alertmanager_without_a_link_still_names_the_trace(receiver: FakeReceiver) -> None:
    sink = AlertmanagerSettings(url=receiver.url, resend_interval=60.0, timeout=2.0)
    sentinel = alerter(AlertingSettings(sinks=(sink,), **QUICK))
    finding = traced(stall(), template=None)
    async with sending(sentinel):
        sentinel.accept([finding], views_of(view()), time.time())
        await eventually(lambda: len(receiver.served("/api/v2/alerts")) == 1)
    [alert] = receiver.served("/api/v2/alerts")[0].json
    assert alert["annotations"]["trace_id"] == finding.trace_id
    assert "trace_url" not in alert["annotations"]
