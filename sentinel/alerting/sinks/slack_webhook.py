"""The plan of a Slack incoming webhook: no threads and no updates, so each message stands alone:
the whole rollout as it is now, or one list when many rollouts change in one window. Pure.

Event-level findings are not planned here: people get them as a digest (`digest.py`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from sentinel.alerting.grouper import Context, EventGroup, Plan, RolloutGroup, remember
from sentinel.alerting.sinks.slack import SlackMessage, history, render_burst, render_rollout
from sentinel.findings import Finding
from sentinel.outbox import Item, Thread, item_key


def plan(
    rollouts: Sequence[RolloutGroup],
    events: Sequence[EventGroup],
    threads: Mapping[str, Thread],
    ctx: Context,
) -> Plan:
    """A message per rollout that alerts or was alerted before; one list beyond `max_messages`.
    One channel, so one lane; `events` are left to the digest."""
    result = Plan()
    sending: list[tuple[RolloutGroup, tuple[str, ...]]] = []
    for rollout in rollouts:
        known = threads.get(rollout.key)
        if known is None and not rollout.opens:
            continue
        lines = history(rollout, ctx, known.history if known else ())
        sending.append((rollout, lines))
        result.threads[rollout.key] = replace(remember(rollout, known, ctx), history=lines)
    if len(sending) > ctx.settings.max_messages:
        listed = [rollout for rollout, _ in sending]
        findings = [finding for rollout in listed for finding in rollout.findings]
        since = min(rollout.held_at for rollout in listed)
        message = render_burst(listed, ctx, threaded=False)
        result.items.append(_item(findings, since, ctx, message))
    else:
        for rollout, lines in sending:
            message = render_rollout(rollout, ctx, lines)
            result.items.append(_item(rollout.findings, rollout.held_at, ctx, message))
    return result


def _item(findings: Sequence[Finding], since: float, ctx: Context, message: SlackMessage) -> Item:
    return Item(
        key=item_key(findings, ctx.sink, "message"),
        sink=ctx.sink,
        payload=message.payload(),
        enqueued_at=since,
        next_at=ctx.now,
    )
