"""The generic webhook sink (`webhooks:`, a list): the contract JSON of each finding, one POST
each, signed when a secret is given; event-level findings as one POST per kind and event type
and interval, with a `count`. The plan and render are pure; the transport does the I/O."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sentinel.alerting.grouper import Context, EventGroup, Plan, RolloutGroup, remember
from sentinel.alerting.sinks.base import Sink, check_http_url, one_lane_item
from sentinel.alerting.sinks.httpkit import JsonPost, dump
from sentinel.configkit import SECRET, Section
from sentinel.core.engine.findings import Finding
from sentinel.core.ports.outbox import (
    NOISE_PRIORITY,
    Item,
    Outbox,
    Thread,
)
from sentinel.core.timefmt import format_rfc3339

SIGNATURE_HEADER = "X-Sentinel-Signature"
DELIVERY_HEADER = "X-Sentinel-Delivery"


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """A generic webhook: the finding's JSON, signed when a secret is given."""

    url: str = field(metadata=SECRET)
    secret: str | None = field(default=None, metadata=SECRET)
    timeout: float = 10.0
    name: str = "webhook"


def parse(section: Section, name: str) -> WebhookSettings:
    """One item of `webhooks:`; `name` unless it names itself."""
    hook = section.read(WebhookSettings, name=section.take(["name"]).get("name", name))
    check_http_url(section, "url", hook.url)
    return hook


def plan(
    rollouts: Sequence[RolloutGroup],
    events: Sequence[EventGroup],
    threads: Mapping[str, Thread],
    ctx: Context,
) -> Plan:
    """Every finding of a rollout that alerts or was alerted before; a count per event group."""
    result = Plan()
    for rollout in rollouts:
        known = threads.get(rollout.key)
        if known is None and not rollout.opens:
            continue
        for finding in rollout.findings:
            result.items.append(
                one_lane_item([finding], rollout.held_at, ctx, {"body": render(finding)}, "post")
            )
        result.threads[rollout.key] = remember(rollout, known, ctx)
    for group in events:
        body = render(group.findings[0], count=group.count, last_at=group.findings[-1].at)
        result.items.append(
            one_lane_item(
                group.findings, group.held_at, ctx, {"body": body}, "post", NOISE_PRIORITY
            )
        )
    return result


def render(
    finding: Finding, count: int | None = None, last_at: float | None = None
) -> dict[str, Any]:
    """The finding's contract JSON; for a group of event-level findings, the first of them plus
    `count` (how many in the group) and `last_at` (when the last one was raised)."""
    body = finding.to_json_dict()
    if count is not None:
        body["count"] = count
    if last_at is not None:
        body["last_at"] = format_rfc3339(last_at)
    return body


def mark_test(settings: WebhookSettings, item: Item, now: float) -> Item:
    """The test alert (`sentinel alerts test`): the finding's JSON with `"test": true`."""
    return replace(item, payload={**item.payload, "body": {**item.payload["body"], "test": True}})


def sign(secret: str, body: bytes) -> str:
    """The X-Sentinel-Signature value: `sha256=` and the hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookTransport(JsonPost):
    """A generic webhook: the finding's JSON, signed with HMAC-SHA256 when a secret is set."""

    def __init__(self, settings: WebhookSettings) -> None:
        super().__init__(settings.name, settings.url, settings.timeout)
        self._secret = settings.secret

    async def deliver(self, item: Item, outbox: Outbox, now: float) -> None:
        body = dump(item.payload["body"])
        headers = {DELIVERY_HEADER: item.key}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(self._secret, body)
        await self._post(body, headers)

    async def refresh(self, outbox: Outbox, now: float) -> None:
        """Nothing to refresh: a webhook gets each finding once."""


SINK = Sink(
    name="webhook",
    list_key="webhooks",
    settings=WebhookSettings,
    parse=parse,
    plan=plan,
    transport=WebhookTransport,
    human=False,
    mark_test=mark_test,
)
