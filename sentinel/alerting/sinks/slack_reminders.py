"""Slack's reminders of an open stall (`reminders.py`): told again in the rollout's thread (the
bot) or as a message of its own (the incoming webhook, which has no threads), and escalated
once to `escalate.channel` (the bot) with a link to the thread. Pure: the transport adds the
link, which only Slack knows (chat.getPermalink)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentinel.alerting.alert_words import checklist, overdue
from sentinel.alerting.grouper import Context
from sentinel.alerting.reminders import Reminder
from sentinel.alerting.sinks.slack_blocks import (
    LINE_CHARS,
    SlackMessage,
    _buttons,
    _context,
    _header,
    _mrkdwn,
    _sections,
    clip,
    code,
    esc,
    fallback,
    fit_checklist,
)
from sentinel.core.durations import format_duration
from sentinel.core.ports.outbox import Item, Thread

STILL = "Still stalled"
ESCALATED = "Escalated"
# Where the transport puts the thread's link in an escalation: after its header and its line.
LINK_AT = 2


def in_thread(reminder: Reminder, thread: Thread | None, ctx: Context) -> Item | None:
    """The bot's re-notification: a reply in the rollout's thread (in the channel when its
    parent could not be posted), in the thread's lane, behind its parent."""
    if thread is None:
        return None  # never told in this sink
    message = render_reminder_reply(reminder, ctx, named=thread.shared)
    payload = {
        "purpose": "reply",
        "thread": reminder.stall.key,
        "channel": thread.channel,
        **message.payload(),
    }
    return _item(reminder, ctx, payload, thread.delivery_lane)


def as_message(reminder: Reminder, thread: Thread | None, ctx: Context) -> Item | None:
    """The incoming webhook's re-notification: no threads, so a message of its own that
    carries the rollout as it is now, for a rollout it told before."""
    if thread is None:
        return None
    return _item(reminder, ctx, render_reminder_message(reminder, ctx).payload(), "")


def to_escalation_channel(reminder: Reminder, thread: Thread | None, ctx: Context) -> Item | None:
    """The bot's escalation: once in `escalate.channel`, a lane of its own; the transport links
    the rollout's thread when its parent was posted."""
    escalate = ctx.settings.escalate
    if escalate is None:
        return None
    message = render_escalation(reminder, ctx)
    payload = {
        "purpose": "escalate",
        "thread": reminder.stall.key,
        "channel": escalate.channel,
        **message.payload(),
    }
    return _item(reminder, ctx, payload, escalate.channel)


def still_stalled(reminder: Reminder, ctx: Context) -> str:
    """`UserServiceV2_Running: due by 10:10, overdue by 30m, nothing seen yet`: the checklist's
    words for the step."""
    stall = reminder.stall
    return f"{stall.finding.step}: {overdue(stall.due, reminder.now, ctx.tz)}"


def render_reminder_reply(reminder: Reminder, ctx: Context, named: bool) -> SlackMessage:
    """One line in the thread; it names the rollout when the thread's parent lists several."""
    finding = reminder.stall.finding
    words = still_stalled(reminder, ctx)
    prefix = f"{esc(finding.expectation or '')} {code(finding.rollout or '')}: " if named else ""
    line = f"🔴 {prefix}*{STILL}:* {esc(clip(words, LINE_CHARS))}"
    text = f"{finding.expectation} rollout {finding.rollout}: {STILL}: {words}"
    return SlackMessage(fallback(text), tuple(_sections([line])))


def render_reminder_message(reminder: Reminder, ctx: Context) -> SlackMessage:
    """A message of its own: the stall, the checklist as it is now, the links."""
    every = ctx.settings.renotify_after or 0.0
    return _standalone(reminder, ctx, STILL, f"Told again every {format_duration(every)}")


def render_escalation(reminder: Reminder, ctx: Context) -> SlackMessage:
    """The escalation: which rollout, which step, how late, whose; the checklist, the links."""
    after = ctx.settings.escalate.after if ctx.settings.escalate is not None else 0.0
    return _standalone(
        reminder, ctx, ESCALATED, f"Escalated: still open {format_duration(after)} after it was due"
    )


def with_thread_link(message: Mapping[str, Any], permalink: str) -> dict[str, Any]:
    """An escalation with the link to the rollout's thread, after its line."""
    blocks = list(message["blocks"])
    link = {"type": "section", "text": _mrkdwn(f"<{permalink}|Open the alert's thread>")}
    return {**message, "blocks": [*blocks[:LINK_AT], link, *blocks[LINK_AT:]]}


def _standalone(reminder: Reminder, ctx: Context, heading: str, note: str) -> SlackMessage:
    stall, tz = reminder.stall, ctx.tz
    finding, view = stall.finding, stall.view
    words = still_stalled(reminder, ctx)
    owner = finding.owner or view.owner
    line = (
        f"🔴 *{esc(finding.expectation or '')}* {code(finding.rollout or '')}: "
        f"{esc(clip(words, LINE_CHARS))}" + (f" · owner {esc(owner)}" if owner else "")
    )
    steps = [esc(clip(step, LINE_CHARS)) for step in checklist(view, reminder.now, tz)]
    blocks = [
        _header(f"🔴 {heading}: {finding.expectation}"),
        *_sections([line]),
        *_sections(["*Checklist*", *fit_checklist(steps)]),
        _context(f"{note} · rollout-sentinel"),
        *_buttons(ctx, (finding,)),
    ]
    text = f"🔴 {heading}: {finding.expectation} rollout {finding.rollout}: {words}"
    return SlackMessage(fallback(text), tuple(blocks))


def _item(reminder: Reminder, ctx: Context, payload: dict[str, Any], lane: str) -> Item:
    return Item(
        key=reminder.key(ctx.sink),
        sink=ctx.sink,
        payload=payload,
        enqueued_at=reminder.now,
        next_at=reminder.now,
        lane=lane,
    )
