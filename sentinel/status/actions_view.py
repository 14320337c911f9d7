"""What people did about a rollout, on its page (contract section 14, "From the board"): the
history of its actions (who, when, what, until when, the note) for everyone, and for an
operator on an open rollout the controls that act (acknowledge, snooze, note, abandon).

Purely computational. The controls are plain buttons that `actions.js` posts, with the
token this page carries (`data-token`: the user's, for the browser's session cookie), as JSON
to the rollout's actions route; nothing here is a form that would post without it. Every
value is escaped: a note is typed by a person and a rollout key comes from the bus."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sentinel.status.api_json import OPEN_PHASES
from sentinel.status.markup import esc, time_tag

# verb -> (symbol, what the history says); `actions.js` says the same (VERBS).
VERBS = {
    "acknowledge": ("☑", "acknowledged"),
    "snooze": ("☾", "snoozed"),
    "note": ("✎", "note"),
    "abandon": ("✕", "abandoned"),
}
SNOOZES = ("1h", "4h", "24h")
NOTE_MAX = 2000  # characters of a note the page lets one type (the route has its own bound)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who reads the page: the basic-auth user (None without basic auth), whether
    `http.operators` names them, and the token of their page for the actions route, bound to
    the browser's session (operators only)."""

    user: str | None = None
    operator: bool = False
    token: str | None = None

    @property
    def may_act(self) -> bool:
        return self.operator and bool(self.token)


VIEWER = Actor()


def actions_href(expectation: str, rollout: str) -> str:
    """The actions route of a rollout; each part percent-encoded as the API's paths."""
    return f"/api/v1/rollouts/{quote(expectation, safe='')}/{quote(rollout, safe='')}/actions"


def actions_section(full: Mapping[str, Any], clock: float, actor: Actor = VIEWER) -> str:
    """The page's "Actions" section: the controls when `actor` may act on this rollout (an
    operator, and the rollout still open), then the history, oldest first."""
    actions: Sequence[Mapping[str, Any]] = full.get("actions") or ()
    is_open = full["phase"] in OPEN_PHASES
    controls = _controls(full) if actor.may_act and is_open else _why_not(actor, is_open)
    token = f' data-token="{esc(actor.token)}"' if actor.may_act and is_open else ""
    href = actions_href(full["expectation"], full["rollout"])
    return (
        f'<section class="actions" id="actions" aria-labelledby="actions-h"'
        f' data-expectation="{esc(full["expectation"])}" data-rollout="{esc(full["rollout"])}"'
        f' data-href="{esc(href)}"{token}>'
        '<h2 id="actions-h">Actions</h2>'
        f"{controls}{history(actions, clock)}</section>"
    )


def history(actions: Sequence[Mapping[str, Any]], clock: float) -> str:
    """Every action, oldest first: when, what (a symbol and a word), who and through what,
    until when (a snooze), and the note."""
    if not actions:
        return (
            '<ol class="action-list" id="action-list"><li class="empty">'
            "Nobody has acted on this rollout yet.</li></ol>"
        )
    items = "".join(action_item(action, clock) for action in actions)
    return f'<ol class="action-list" id="action-list">{items}</ol>'


def action_item(action: Mapping[str, Any], clock: float) -> str:
    """One action of the history; `actions.js` builds the same (renderAction)."""
    verb = str(action.get("verb") or "")
    symbol, word = VERBS.get(verb, ("•", verb.replace("_", " ")))
    until = ""
    if action.get("until"):
        until = f'<span class="until">until {time_tag(action["until"], clock)}</span>'
    via = f" via {esc(action['via'])}" if action.get("via") else ""
    note = f'<q class="note">{esc(action["note"])}</q>' if action.get("note") else ""
    return (
        f'<li class="action verb-{esc(verb)}">{time_tag(action.get("at"), clock)}'
        f'<span class="badge verb"><span class="sym" aria-hidden="true">{esc(symbol)}</span>'
        f' {esc(word)}</span><span class="by">by {esc(action.get("by") or "-")}{via}</span>'
        f"{until}{note}</li>"
    )


def _controls(full: Mapping[str, Any]) -> str:
    snoozes = "".join(
        f'<button type="button" data-verb="snooze" data-for="{span}">Snooze {span}</button>'
        for span in SNOOZES
    )
    key = esc(full["rollout"])
    return (
        '<div class="act" id="act">'
        '<div class="act-row" role="group" aria-label="Acknowledge or snooze">'
        '<button type="button" data-verb="acknowledge">Acknowledge</button>'
        f"{snoozes}</div>"
        '<div class="act-note">'
        '<label for="act-note">Note</label>'
        f'<textarea id="act-note" rows="2" maxlength="{NOTE_MAX}"'
        ' placeholder="What you know, what you did"></textarea>'
        '<button type="button" data-verb="note">Add note</button></div>'
        '<details class="act-abandon"><summary>Abandon…</summary>'
        "<p>Abandoning calls the rollout off: it closes now with an <em>abandoned</em> finding"
        " and cannot be reopened. Say why.</p>"
        '<label for="act-why">Why</label>'
        f'<textarea id="act-why" rows="2" maxlength="{NOTE_MAX}"></textarea>'
        f'<button type="button" class="danger" data-verb="abandon">Abandon {key}</button>'
        "</details>"
        '<p class="act-status" id="act-status" role="status" aria-live="polite"></p>'
        "</div>"
    )


def _why_not(actor: Actor, is_open: bool) -> str:
    """Why this page has no controls, in a line (nothing to say once the rollout is closed)."""
    if not is_open:
        return ""
    if actor.user is None:
        text = (
            "Nobody acts from this board: it has no users (<code>http.basic_auth</code>) and so"
            " no operators (<code>http.operators</code>)."
        )
    else:
        text = (
            f"Signed in as {esc(actor.user)}: only the operators of"
            " <code>http.operators</code> can act on a rollout."
        )
    return f'<p class="meta act-none">{text}</p>'
