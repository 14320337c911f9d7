"""What people did about a rollout, on its page and on the board (contract section 14, "From
the board"): the history for everyone, the controls and the token for an operator on an open
rollout only, a typed note and a user name as text, and a row that says who acknowledged it
and until when it is snoozed."""

from __future__ import annotations

from typing import Any

from engine.helpers import MIN, T0, event, run, user_service

from sentinel.core.engine.acting import act
from sentinel.core.engine.actions import Action, Verb
from sentinel.core.engine.engine import Engine
from sentinel.core.timefmt import format_rfc3339
from sentinel.status.actions_view import Actor, actions_href
from sentinel.status.api_json import summary
from sentinel.status.board import BoardFilters, render_board
from sentinel.status.markup import acted
from sentinel.status.rollout_page import render_rollout_page

from .helpers import HOSTILE_KEY, hostile_rollout
from .test_escaping import assert_inert, parse

HOSTILE_NOTE = "<img src=n onerror=alert(5)> it's </q><b>fine</b>"
HOSTILE_USER = "<i>mallory</i>"
OPERATOR = Actor("alice", operator=True, token="t0k3n")


def with_actions(rollout: dict[str, Any], clock: float) -> dict[str, Any]:
    at = format_rfc3339(clock - 60)
    until = format_rfc3339(clock + 3600)
    actions = [
        {"verb": "acknowledge", "by": "alice", "at": at, "via": "board", "until": None,
         "note": None},
        {"verb": "snooze", "by": HOSTILE_USER, "at": at, "via": "slack", "until": until,
         "note": None},
        {"verb": "note", "by": "alice", "at": at, "via": "board", "until": None,
         "note": HOSTILE_NOTE},
    ]  # fmt: skip
    return {**rollout, "actions": actions, "acknowledged_by": "alice", "snoozed_until": until}


def controls(html: str) -> list[str]:
    return [
        dict(attrs).get("data-verb") or ""
        for tag, attrs in parse(html).tags
        if tag == "button" and dict(attrs).get("data-verb")
    ]


def test_everyone_sees_the_history_with_a_note_and_a_name_as_text() -> None:
    rollout, exp, clock = hostile_rollout()
    html = render_rollout_page(with_actions(rollout, clock), exp, clock)
    assert_inert(html)
    text = "".join(parse(html).text)
    assert HOSTILE_NOTE in text
    assert f"by {HOSTILE_USER} via slack" in text
    assert "☑ acknowledged" in text
    assert "☾ snoozed" in text
    assert controls(html) == []
    assert "data-token" not in html


def test_an_operator_on_an_open_rollout_gets_the_controls_and_the_token() -> None:
    rollout, exp, clock = hostile_rollout()
    html = render_rollout_page(rollout, exp, clock, OPERATOR)
    assert_inert(html)
    assert controls(html) == ["acknowledge", "snooze", "snooze", "snooze", "note", "abandon"]
    section = next(attrs for tag, attrs in parse(html).tags if ("id", "actions") in attrs)
    assert dict(section)["data-token"] == "t0k3n"
    assert dict(section)["data-href"] == actions_href("hostile", HOSTILE_KEY)
    assert dict(section)["data-href"].endswith("/actions")
    assert "%3Cimg" in dict(section)["data-href"]  # the key percent-encoded, not markup
    assert "Nobody has acted on this rollout yet." in html


def test_a_viewer_and_a_board_without_users_get_no_controls_and_say_why() -> None:
    rollout, exp, clock = hostile_rollout()
    viewer = render_rollout_page(rollout, exp, clock, Actor("bob"))
    assert controls(viewer) == []
    assert "Signed in as bob: only the operators" in viewer
    nobody = render_rollout_page(rollout, exp, clock)
    assert controls(nobody) == []
    assert "it has no users" in nobody
    # An operator without a token (none could be made) cannot act either.
    assert controls(render_rollout_page(rollout, exp, clock, Actor("alice", True))) == []


def test_a_closed_rollout_keeps_its_history_and_takes_no_action() -> None:
    rollout, exp, clock = hostile_rollout()
    closed = {**with_actions(rollout, clock), "phase": "abandoned"}
    html = render_rollout_page(closed, exp, clock, OPERATOR)
    assert controls(html) == []
    assert "data-token" not in html
    assert HOSTILE_NOTE in "".join(parse(html).text)
    assert "⊘ abandoned" in "".join(parse(html).text)


def test_a_row_says_who_acknowledged_it_and_until_when_it_is_snoozed() -> None:
    rollout, exp, clock = hostile_rollout()
    shown = with_actions(rollout, clock)
    html = render_board([shown], [], [exp], clock, BoardFilters())
    text = "".join(parse(html).text)
    assert "ack by alice" in text
    assert f"snoozed until {format_rfc3339(clock + 3600)[11:19]}" in text
    # A snooze that has ended, or a closed rollout, says nothing.
    assert "snoozed" not in acted(shown, clock + 3601)
    assert acted({**shown, "phase": "completed"}, clock) == ""
    assert acted({**shown, "acknowledged_by": None, "snoozed_until": None}, clock) == ""


def test_a_listed_rollout_names_its_acknowledgement_until_a_later_stall_and_its_snooze() -> None:
    engine = Engine([user_service()], retention_s=float("inf"))
    run(engine, [event("SchemaV2_Ready", T0, "r1")], until=T0 + 5 * MIN)
    view = engine.view("user-service-v2", "r1")
    assert view is not None
    assert (summary(view)["acknowledged_by"], summary(view)["snoozed_until"]) == (None, None)
    act(engine, "user-service-v2", "r1", Action(Verb.ACKNOWLEDGE, "alice", T0 + 6 * MIN, "board"))
    snooze = Action(Verb.SNOOZE, "bob", T0 + 7 * MIN, "slack", until=T0 + 67 * MIN)
    act(engine, "user-service-v2", "r1", snooze)
    view = engine.view("user-service-v2", "r1")
    assert view is not None
    listed = summary(view)
    assert listed["acknowledged_by"] == "alice"
    assert listed["snoozed_until"] == format_rfc3339(T0 + 67 * MIN)
    # The step stalls at 10:10, after the acknowledgement: a new problem, told again.
    run(engine, [], until=T0 + 11 * MIN)
    view = engine.view("user-service-v2", "r1")
    assert view is not None
    assert summary(view)["problems"] == ["stall"]
    assert summary(view)["acknowledged_by"] is None
    assert summary(view)["snoozed_until"] == format_rfc3339(T0 + 67 * MIN)
