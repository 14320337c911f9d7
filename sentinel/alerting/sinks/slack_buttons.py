"""Slack interactivity (contract section 14), the pure half: the act buttons of a rollout's
parent message (Acknowledge, Snooze 1h / 4h / 24h), the lines that say who acted, the value
that names the rollout in a button, and a click read back from Slack's `block_actions`
payload. The HTTP half (`POST /slack/actions`, the signature) is `sentinel/web/slack_actions.py`;
what the bot says after an action is `slack_acted.py`.

A button's `value` is the rollout as JSON, `{"expectation": ..., "rollout": ...}`: Slack sends it
back as it was posted, and only a request signed with the app's signing secret is read, so the
value is the bot's own. A rollout whose value would pass Slack's 2,000 characters gets no act
buttons (its links stay): the board acts on it."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from sentinel.alerting.alert_words import stamp
from sentinel.core.engine.actions import Action, Verb, acknowledged_at, snoozed_until
from sentinel.core.engine.snapshots import RolloutView

ACKNOWLEDGE = "sentinel-acknowledge"
# Each snooze button's action id and its length, in seconds.
SNOOZES: Mapping[str, float] = {
    "sentinel-snooze-1h": 3600.0,
    "sentinel-snooze-4h": 4 * 3600.0,
    "sentinel-snooze-24h": 24 * 3600.0,
}
SNOOZE_LABELS: Mapping[str, str] = {
    "sentinel-snooze-1h": "Snooze 1h",
    "sentinel-snooze-4h": "Snooze 4h",
    "sentinel-snooze-24h": "Snooze 24h",
}
ACT_IDS = frozenset({ACKNOWLEDGE, *SNOOZES})
# The message's blocks the bot rewrites after an action, by their `block_id`.
ACTED_BLOCK = "sentinel-acted"
ACTIONS_BLOCK = "sentinel-actions"
# Slack's limit on a button's `value` (docs.slack.dev, Block Kit: button element).
VALUE_CHARS = 2000
# How a parent message says who acted.
ACK_ICON = "✋"
SNOOZE_ICON = "💤"
NOTE_ICON = "📝"
SNOOZE_OVER_ICON = "⏰"


def rollout_value(expectation: str, rollout: str) -> str | None:
    """The rollout as a button's value; None when it would pass Slack's 2,000 characters."""
    value = json.dumps(
        {"expectation": expectation, "rollout": rollout}, ensure_ascii=False, separators=(",", ":")
    )
    return value if len(value) <= VALUE_CHARS else None


def act_buttons(
    expectation: str, rollout: str, view: RolloutView | None, problem_at: float | None
) -> list[dict[str, Any]]:
    """The act buttons of an open rollout's parent: Acknowledge while a problem newer than the
    last acknowledgement is open (`problem_at`: the newest problem the message tells), and the
    snoozes. None for a rollout whose key does not fit a button's value."""
    value = rollout_value(expectation, rollout)
    if value is None:
        return []
    buttons = []
    acked = acknowledged_at(view.actions) if view is not None else None
    if acked is None or (problem_at is not None and problem_at > acked):
        buttons.append(_button(ACKNOWLEDGE, "Acknowledge", value, style="primary"))
    buttons.extend(_button(action, SNOOZE_LABELS[action], value) for action in SNOOZES)
    return buttons


def acted_lines(
    view: RolloutView | None, now: float, tz: tzinfo, problem_at: float | None = None
) -> list[str]:
    """Who acknowledged (the last one; whether a problem came after it, `problem_at` being the
    newest the message tells), and the snooze in force at `now`: plain text (the names come
    from Slack or the board), for the caller to escape."""
    if view is None or not view.actions:
        return []
    lines = []
    acked = acknowledged_at(view.actions)
    if acked is not None:
        ack = _latest(view.actions, Verb.ACKNOWLEDGE)
        newer = problem_at is not None and problem_at > acked
        lines.append(
            f"{ACK_ICON} Acknowledged by {ack.by} ({_via(ack)}) at {stamp(ack.at, tz)}"
            + ("; a problem since is not" if newer else "")
        )
    until = snoozed_until(view.actions, now)
    if until is not None:
        snooze = _latest(view.actions, Verb.SNOOZE)
        lines.append(
            f"{SNOOZE_ICON} Snoozed by {snooze.by} ({_via(snooze)}) until {stamp(until, tz)}: "
            "no reminders until then"
        )
    return lines


@dataclass(frozen=True, slots=True)
class Click:
    """An act button clicked in Slack: on which rollout, by whom, from which message."""

    verb: Verb
    snooze_s: float | None
    expectation: str
    rollout: str
    user: str
    channel: str | None
    message_ts: str | None


class BadClick(ValueError):
    """A payload that is not a click on one of the bot's buttons; the message says why."""


def read_click(payload: Any) -> Click | None:
    """The act button a `block_actions` payload clicked; None for a click on a link button
    (Dashboard, Runbook, Open trace: Slack tells the app of those too) or another kind of
    interaction, which need nothing. BadClick for a payload that is not Slack's shape or a
    value that is not the bot's."""
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions:
        raise BadClick("block_actions without actions")
    clicked = actions[0]
    if not isinstance(clicked, dict):
        raise BadClick("an action that is not an object")
    action_id = clicked.get("action_id")
    if action_id not in ACT_IDS:
        return None
    expectation, rollout = _rollout_of(clicked.get("value"))
    user = payload.get("user")
    if not isinstance(user, dict):
        raise BadClick("a click without its user")
    who = next(
        (
            name
            for name in (user.get("username"), user.get("name"), user.get("id"))
            if isinstance(name, str) and name.strip()
        ),
        None,
    )
    if who is None:
        raise BadClick("a click without its user's name or id")
    channel = payload.get("channel")
    container = payload.get("container")
    return Click(
        verb=Verb.ACKNOWLEDGE if action_id == ACKNOWLEDGE else Verb.SNOOZE,
        snooze_s=SNOOZES.get(action_id),
        expectation=expectation,
        rollout=rollout,
        user=who,
        channel=_text(channel.get("id")) if isinstance(channel, dict) else None,
        message_ts=_text(container.get("message_ts")) if isinstance(container, dict) else None,
    )


def with_acts(
    blocks: Sequence[Mapping[str, Any]],
    lines: Sequence[str],
    buttons: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """A parent message's blocks with its acted lines and act buttons as given now: the old
    ones (by block_id) taken out, the lines put before the footer (the last context block),
    the act buttons ahead of the links in the actions block."""
    kept: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("block_id") == ACTED_BLOCK:
            continue
        if block.get("block_id") == ACTIONS_BLOCK or block.get("type") == "actions":
            elements = block.get("elements", ())
            links += [dict(e) for e in elements if e.get("action_id") not in ACT_IDS]
            continue
        kept.append(dict(block))
    if lines:
        footer = max(
            (index for index, block in enumerate(kept) if block.get("type") == "context"),
            default=len(kept),
        )
        acted = {
            "type": "section",
            "block_id": ACTED_BLOCK,
            "text": {"type": "mrkdwn", "text": "\n".join(lines)},
        }
        kept.insert(footer, acted)
    elements = [*(dict(button) for button in buttons), *links]
    if elements:
        kept.append({"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements})
    return kept


def _button(action_id: str, label: str, value: str, style: str | None = None) -> dict[str, Any]:
    button = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value,
    }
    if style is not None:
        button["style"] = style
    return button


def _rollout_of(value: Any) -> tuple[str, str]:
    if not isinstance(value, str) or len(value) > VALUE_CHARS:
        raise BadClick("a button's value that is not the bot's")
    try:
        data = json.loads(value)
    except ValueError:
        raise BadClick("a button's value that is not JSON") from None
    expectation = data.get("expectation") if isinstance(data, dict) else None
    rollout = data.get("rollout") if isinstance(data, dict) else None
    if not isinstance(expectation, str) or not isinstance(rollout, str) or not expectation:
        raise BadClick("a button's value that names no rollout")
    return expectation, rollout


def _latest(actions: Sequence[Action], verb: Verb) -> Action:
    return max((action for action in actions if action.verb is verb), key=lambda a: a.at)


def _via(action: Action) -> str:
    return "Slack" if action.via == "slack" else "board"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
