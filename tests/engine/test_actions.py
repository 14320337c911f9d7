"""On-call actions on a rollout (contract section 14): what each verb does to the engine's
rollout, what is refused (and that a refusal changes nothing), and abandon's one finding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel.core.engine.acting import act
from sentinel.core.engine.actions import (
    LONGEST_SNOOZE_S,
    NOTE_CHARS,
    Action,
    BadAction,
    RolloutClosed,
    TooManyActions,
    UnknownRollout,
    Verb,
    acknowledged_at,
    make_action,
    snoozed_until,
)
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Kind
from sentinel.core.engine.kinds import sentence
from sentinel.core.engine.limits import Limits
from sentinel.core.engine.snapshots import Phase, StepState
from sentinel.core.errors import SentinelError

from .helpers import MIN, T0, event, user_service

NAME = "user-service-v2"


def opened(limits: Limits | None = None) -> Engine:
    """An engine holding rollout r1, open and stalled at T0+11m (UserServiceV2 due T0+10m)."""
    engine = Engine([user_service()], limits=limits or Limits())
    engine.apply(event("SchemaV2_Ready", T0, "r1"), T0)
    engine.advance(T0 + 11 * MIN)
    engine.take_changes()
    return engine


def ack(by: str = "ana", at: float = T0 + 12 * MIN) -> Action:
    return make_action("acknowledge", by, at, "board")


def test_an_acknowledgement_is_kept_with_the_rollout_and_marks_it_changed() -> None:
    engine = opened()
    assert act(engine, NAME, "r1", ack()) == []
    rollout = engine.rollouts[NAME]["r1"]
    assert rollout.actions == (ack(),)
    assert rollout.phase is Phase.OPEN
    assert set(engine.take_changes().rollouts) == {(NAME, "r1")}
    view = engine.view(NAME, "r1")
    assert view is not None and view.actions == (ack(),)
    assert acknowledged_at(rollout.actions) == T0 + 12 * MIN


def test_a_snooze_ends_after_its_length_and_a_note_says_something() -> None:
    engine = opened()
    snooze = make_action("snooze", "bo", T0 + 12 * MIN, "slack", snooze_s=3600.0)
    note = make_action("note", "bo", T0 + 13 * MIN, "board", note="  DBA is on it  ")
    act(engine, NAME, "r1", snooze)
    act(engine, NAME, "r1", note)
    actions = engine.rollouts[NAME]["r1"].actions
    assert [a.verb for a in actions] == [Verb.SNOOZE, Verb.NOTE]
    assert actions[0].until == T0 + 12 * MIN + 3600.0
    assert actions[1].note == "DBA is on it"
    assert snoozed_until(actions, T0 + 30 * MIN) == T0 + 72 * MIN
    assert snoozed_until(actions, T0 + 73 * MIN) is None


def test_abandon_closes_the_rollout_with_one_abandoned_finding_naming_who_and_why() -> None:
    engine = opened()
    abandon = make_action("abandon", "ana", T0 + 12 * MIN, "board", note="migration cancelled")
    findings = act(engine, NAME, "r1", abandon)
    assert [f.kind for f in findings] == [Kind.ABANDONED]
    finding = findings[0]
    assert (finding.expectation, finding.rollout, finding.owner) == (NAME, "r1", "team-identity")
    assert finding.reason == "called off by ana on the board: migration cancelled"
    assert finding.duration_s == 11 * MIN  # the engine's clock: the stream's, not the click's
    assert not finding.is_problem
    assert sentence(finding.to_json_dict()).startswith("called off by ana on the board")
    rollout = engine.rollouts[NAME]["r1"]
    assert rollout.phase is Phase.ABANDONED and rollout.closed_at == T0 + 11 * MIN
    assert rollout.due == {} and rollout.deadline_at is None
    view = engine.view(NAME, "r1")
    assert view is not None
    assert [step.state for step in view.steps] == [
        StepState.SEEN,
        StepState.STALLED,
        StepState.CANCELLED,
    ]
    # Nothing is awaited any more: no deadline fires, a late event changes nothing.
    assert engine.advance(T0 + 120 * MIN) == []
    late = engine.apply(event("UserServiceV2_Running", T0 + 121 * MIN, "r1"), T0 + 121 * MIN)
    assert [f for f in late if f.rollout is not None] == []
    assert "UserServiceV2_Running" not in engine.rollouts[NAME]["r1"].seen


def test_a_closed_rollout_takes_a_note_and_nothing_else() -> None:
    engine = opened()
    act(engine, NAME, "r1", make_action("abandon", "ana", T0 + 12 * MIN, "board"))
    for verb in ("acknowledge", "abandon"):
        with pytest.raises(RolloutClosed, match="closed"):
            act(engine, NAME, "r1", make_action(verb, "bo", T0 + 13 * MIN, "board"))
    later = make_action("note", "bo", T0 + 14 * MIN, "board", note="postmortem on Monday")
    assert act(engine, NAME, "r1", later) == []
    assert engine.rollouts[NAME]["r1"].actions[-1] == later


def test_an_unknown_rollout_is_refused_and_nothing_changes() -> None:
    engine = opened()
    for expectation, key in ((NAME, "forged"), ("no-such-expectation", "r1")):
        with pytest.raises(UnknownRollout, match="check the expectation and the key"):
            act(engine, expectation, key, ack())
    assert engine.take_changes().rollouts == {}
    assert NAME in engine.rollouts and "forged" not in engine.rollouts[NAME]


def test_a_rollout_takes_at_most_its_bound_of_actions() -> None:
    engine = opened(Limits(actions_per_rollout=2))
    act(engine, NAME, "r1", ack("a"))
    act(engine, NAME, "r1", ack("b"))
    engine.take_changes()
    with pytest.raises(TooManyActions, match=r"limits\.actions_per_rollout"):
        act(engine, NAME, "r1", ack("c"))
    assert len(engine.rollouts[NAME]["r1"].actions) == 2
    assert engine.take_changes().rollouts == {}


@pytest.mark.parametrize(
    ("verb", "snooze_s", "note", "says"),
    [
        ("snooze", None, None, "needs its length"),
        ("snooze", 0.0, None, "positive"),
        ("snooze", -5.0, None, "positive"),
        ("snooze", LONGEST_SNOOZE_S + 1, None, "at most 7d"),
        ("note", None, None, "needs its text"),
        ("note", None, "   ", "needs its text"),
        ("note", None, "x" * (NOTE_CHARS + 1), "shorten it"),
        ("acknowledge", 60.0, None, "only a snooze takes"),
        ("silence", None, None, "verb must be one of"),
    ],
)
def test_an_action_that_is_not_valid_says_what_to_fix(
    verb: str, snooze_s: float | None, note: str | None, says: str
) -> None:
    with pytest.raises(BadAction, match=says) as refused:
        make_action(verb, "ana", T0, "board", snooze_s, note)
    assert isinstance(refused.value, SentinelError)  # the one hierarchy of user errors


def test_who_acts_and_from_where_must_be_said() -> None:
    with pytest.raises(BadAction, match="named"):
        make_action("acknowledge", "  ", T0, "board")
    with pytest.raises(BadAction, match="slack or board"):
        make_action("acknowledge", "ana", T0, "email")


_text = st.text(min_size=1, max_size=40).filter(lambda text: bool(text.strip()))


@st.composite
def actions(draw: st.DrawFn) -> Action:
    verb = draw(st.sampled_from(list(Verb)))
    at = draw(st.integers(0, 4_000_000_000_000)) / 1000  # RFC 3339 keeps milliseconds
    snooze = draw(st.integers(1, int(LONGEST_SNOOZE_S))) if verb is Verb.SNOOZE else None
    note = draw(_text) if verb is Verb.NOTE else draw(st.none() | _text)
    via = draw(st.sampled_from(["slack", "board"]))
    return make_action(verb, draw(_text), at, via, snooze, note)


@given(actions())
def test_an_action_reads_back_from_its_json_as_it_was(action: Action) -> None:
    assert Action.from_json_dict(action.to_json_dict()) == action
