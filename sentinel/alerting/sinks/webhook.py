"""The plan of a generic webhook: the contract JSON of each finding, one POST each; event-level
findings as one POST per kind and event type and interval, with a `count`. Pure."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from sentinel.alerting.grouper import Context, EventGroup, Plan, RolloutGroup, remember
from sentinel.findings import Finding
from sentinel.outbox import NOISE_PRIORITY, ROLLOUT_PRIORITY, Item, Thread, item_key
from sentinel.timefmt import format_rfc3339

SIGNATURE_HEADER = "X-Sentinel-Signature"
DELIVERY_HEADER = "X-Sentinel-Delivery"


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
            result.items.append(_item([finding], rollout.held_at, ctx, render(finding)))
        result.threads[rollout.key] = remember(rollout, known, ctx)
    for group in events:
        body = render(group.findings[0], count=group.count, last_at=group.findings[-1].at)
        result.items.append(_item(group.findings, group.held_at, ctx, body, NOISE_PRIORITY))
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


def sign(secret: str, body: bytes) -> str:
    """The X-Sentinel-Signature value: `sha256=` and the hex HMAC-SHA256 of the exact body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _item(
    findings: Sequence[Finding],
    since: float,
    ctx: Context,
    body: dict[str, Any],
    priority: int = ROLLOUT_PRIORITY,
) -> Item:
    # One lane: the receiver is one URL. Event-level findings queue behind rollout alerts.
    return Item(
        key=item_key(findings, ctx.sink, "post"),
        sink=ctx.sink,
        payload={"body": body},
        enqueued_at=since,
        next_at=ctx.now,
        priority=priority,
    )
