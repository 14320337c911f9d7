"""What the Slack bot says of on-call's actions (contract section 14), pure: its parent message
as the plan renders it with the act buttons and who acted, and `on_action`, the sink's
`Sink.on_action`: after an acknowledgement or a snooze (from Slack or the board) the parent is
updated in place (`chat.update`) to say who and until when, with the buttons that still make
sense, and a line goes in the thread; a note is a line in the thread. When a snooze has ended,
the alerter calls it again with that snooze (`ctx.now` past its `until`): the thread says so
and the parent drops the snooze's line.

The bot keeps the parent as last rendered, and the time of the newest problem it tells, in its
thread's `firing` (a sink's own memory of a rollout, as PagerDuty keeps its open problems
there): an action has no findings to render a parent from, so the update is that message with
its acted lines and act buttons as they are now. A parent listing several rollouts (a burst)
gets no buttons and is never updated: an action is a line in its thread."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from sentinel.alerting.alert_words import stamp
from sentinel.alerting.grouper import Context, RolloutGroup, closes
from sentinel.alerting.sinks.slack_blocks import (
    LINE_CHARS,
    SlackMessage,
    _sections,
    clip,
    code,
    esc,
    fallback,
    render_rollout,
)
from sentinel.alerting.sinks.slack_buttons import (
    ACK_ICON,
    ACTED_BLOCK,
    NOTE_ICON,
    SNOOZE_ICON,
    SNOOZE_OVER_ICON,
    act_buttons,
    acted_lines,
    rollout_value,
    with_acts,
)
from sentinel.core.engine.actions import Action, Verb
from sentinel.core.engine.snapshots import Phase, RolloutView
from sentinel.core.ports.outbox import Item, Thread, thread_key

# The key of the bot's memory in a thread's `firing`.
MEMO = "slack_parent"
OPEN_PHASES = frozenset({Phase.OPEN, Phase.ROLLING_BACK})
BOARD_LABEL = "Open on board"
# Said instead of the act buttons when the rollout's key does not fit a button's value.
TOO_LONG = (
    "No Acknowledge or Snooze buttons: this rollout's key is too long for a Slack button. "
    "Act on the board."
)


def interactive(ctx: Context) -> bool:
    """The sink has a signing secret (`slack.signing_secret_env`): its parents carry buttons."""
    own = next((sink for sink in ctx.settings.sinks if sink.name == ctx.sink), None)
    return getattr(own, "signing_secret", None) is not None


def render_parent(
    rollout: RolloutGroup,
    ctx: Context,
    lines: Sequence[str],
    known: Thread | None,
) -> tuple[SlackMessage, tuple[Mapping[str, Any], ...]]:
    """The bot's parent message of a rollout, and the memory its thread keeps of it. With a
    signing secret: *Open on board* for the dashboard, and while the rollout is open the act
    buttons (Acknowledge while a problem newer than the last acknowledgement is open);
    whoever acted is said either way."""
    buttons = interactive(ctx)
    message = render_rollout(rollout, ctx, lines, BOARD_LABEL if buttons else "Dashboard")
    problems = [finding.at for finding in rollout.findings if finding.is_problem]
    _, before = remembered(known)
    newest = max([*problems, *([before] if before is not None else [])], default=None)
    view = rollout.view
    is_open = view is not None and view.phase in OPEN_PHASES and not closes(rollout)
    message = _with_acts(message, view, newest, ctx, buttons and is_open)
    return message, _memo(message, newest)


def remembered(thread: Thread | None) -> tuple[Mapping[str, Any] | None, float | None]:
    """The parent as last rendered and the newest problem it told, as the thread keeps them."""
    for entry in thread.firing if thread is not None else ():
        if MEMO in entry:
            return entry[MEMO], entry.get("problem_at")
    return None, None


def on_action(
    action: Action, view: RolloutView, thread: Thread | None, ctx: Context
) -> Sequence[Item]:
    """What the bot says of an action on a rollout it told: a line in the thread (an abandon
    says nothing here: its `abandoned` finding replies and resolves the parent), and, for an
    acknowledgement or a snooze, the parent updated with who acted and the buttons left."""
    if thread is None or action.verb is Verb.ABANDON:
        return []
    key = thread_key(view.expectation, view.rollout)
    over = action.verb is Verb.SNOOZE and action.until is not None and action.until <= ctx.now
    purpose = "snooze-over" if over else "acted"
    ident = _ident(key, action)
    line = _reply_line(action, over, ctx)
    prefix = f"{esc(view.expectation)} {code(view.rollout)}: " if thread.shared else ""
    text = f"{view.expectation} rollout {view.rollout}: {line}"
    reply = SlackMessage(
        fallback(text), tuple(_sections([f"{_icon(action, over)} {prefix}{esc(line)}"]))
    )
    items = [
        _item(
            f"{ident}:{ctx.sink}:{purpose}",
            ctx,
            thread,
            {"purpose": "reply", "thread": key, "channel": thread.channel, **reply.payload()},
        )
    ]
    stored, problem_at = remembered(thread)
    if action.verb is not Verb.NOTE and stored is not None and not thread.shared:
        message = SlackMessage(stored["text"], tuple(stored["blocks"]))
        is_open = view.phase in OPEN_PHASES and thread.resolved_at is None
        acted = _with_acts(message, view, problem_at, ctx, interactive(ctx) and is_open)
        update = {"purpose": "update", "thread": key, **acted.payload()}
        items.append(_item(f"{ident}:{ctx.sink}:{purpose}-update", ctx, thread, update))
    return items


def _with_acts(
    message: SlackMessage,
    view: RolloutView | None,
    problem_at: float | None,
    ctx: Context,
    buttons: bool,
) -> SlackMessage:
    """`message` with who acted and the act buttons as they are at `ctx.now` (`buttons`: the
    sink is interactive and the rollout open); as it is when there is nothing to say."""
    lines = [esc(clip(line, LINE_CHARS)) for line in acted_lines(view, ctx.now, ctx.tz, problem_at)]
    acts = act_buttons(view.expectation, view.rollout, view, problem_at) if buttons and view else []
    if buttons and view is not None and rollout_value(view.expectation, view.rollout) is None:
        lines.append(TOO_LONG)
    had = any(block.get("block_id") == ACTED_BLOCK for block in message.blocks)
    if not (buttons or lines or had):
        return message
    return SlackMessage(message.text, tuple(with_acts(message.blocks, lines, acts)))


def _reply_line(action: Action, over: bool, ctx: Context) -> str:
    who = f"{clip(action.by, LINE_CHARS)} ({'Slack' if action.via == 'slack' else 'board'})"
    if over:
        ended = stamp(action.until or ctx.now, ctx.tz)
        return f"Snooze over: {who}'s snooze ended at {ended}; open problems are told again"
    if action.verb is Verb.ACKNOWLEDGE:
        return f"Acknowledged by {who}: its open problems are not told again; a new one is"
    if action.verb is Verb.SNOOZE:
        until = stamp(action.until or ctx.now, ctx.tz)
        return f"Snoozed by {who} until {until}: no reminders until then"
    return f"Note by {who}: {clip(action.note or '', LINE_CHARS)}"


def _icon(action: Action, over: bool) -> str:
    if over:
        return SNOOZE_OVER_ICON
    return {Verb.ACKNOWLEDGE: ACK_ICON, Verb.SNOOZE: SNOOZE_ICON}.get(action.verb, NOTE_ICON)


def _memo(message: SlackMessage, problem_at: float | None) -> tuple[Mapping[str, Any], ...]:
    return ({MEMO: message.payload(), "problem_at": problem_at},)


def _ident(key: str, action: Action) -> str:
    """An action's part of its deliveries' keys: its rollout, verb, time and who took it."""
    text = f"{key}|{action.verb}|{action.at!r}|{action.by}"
    return "act-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def _item(key: str, ctx: Context, thread: Thread, payload: dict[str, Any]) -> Item:
    return Item(
        key=key,
        sink=ctx.sink,
        payload=payload,
        enqueued_at=ctx.now,
        next_at=ctx.now,
        lane=thread.delivery_lane,
    )
