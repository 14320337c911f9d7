"""On-call actions are kept with their rollout by every store (contract section 14): through a
restart, in the history of a closed rollout, and in the byte form every store writes (the
changelog's records and the SQLite file alike)."""

from __future__ import annotations

from engine.helpers import MIN, T0, event, user_service
from engine.test_actions import actions
from hypothesis import given
from hypothesis import strategies as st
from pipeline.helpers import record

from sentinel.core.engine.actions import Action, Requested, make_action
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Kind
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.snapshots import Phase
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.core.ports.history import closed_rollout, closed_with_view
from sentinel.core.ports.store import StateStore
from sentinel.store.codec import dump_body, load_rollout
from sentinel.store.history_codec import entry_bytes, load_entry

from .conftest import Stores

NAME = "user-service-v2"


def pipeline(store: StateStore) -> Pipeline:
    sentinel = Pipeline(Engine([user_service()]), store, BusDecoder())
    sentinel.restore()
    return sentinel


def asked(key: str, action: Action) -> Requested:
    return Requested(NAME, key, action)


def test_actions_survive_a_restart_and_an_abandoned_rollout_keeps_them_in_history(
    stores: Stores,
) -> None:
    first = pipeline(stores.open())
    opening = [record(event("SchemaV2_Ready", T0, key), n) for n, key in enumerate(("a", "b"))]
    first.process(opening, WallClock(T0 + MIN))
    ack = make_action("acknowledge", "ana", T0 + 2 * MIN, "slack")
    snooze = make_action("snooze", "bo", T0 + 3 * MIN, "board", snooze_s=3600.0)
    why = make_action("abandon", "ana", T0 + 4 * MIN, "board", note="called off: bad image")
    kept = first.process(
        [], WallClock(T0 + 5 * MIN), actions=[asked("a", ack), asked("a", snooze), asked("b", why)]
    )
    assert all(outcome.applied for outcome in kept.acted)
    assert [f.kind for f in kept.findings] == [Kind.ABANDONED]
    stores.crash()

    second = pipeline(stores.open())
    assert second.engine.rollouts[NAME]["a"].actions == (ack, snooze)
    b = second.engine.rollouts[NAME]["b"]
    assert (b.phase, b.actions) == (Phase.ABANDONED, (why,))
    entry = second.store.closed_rollout(NAME, "b")  # type: ignore[attr-defined]
    assert entry is not None
    assert entry.view.actions == (why,)
    assert [f.kind for f in entry.findings] == [Kind.ABANDONED]


def test_a_note_after_the_close_rewrites_the_history_entry(stores: Stores) -> None:
    first = pipeline(stores.open())
    first.process([record(event("SchemaV2_Ready", T0, "a"), 0)], WallClock(T0 + MIN))
    why = make_action("abandon", "ana", T0 + 2 * MIN, "board")
    note = make_action("note", "bo", T0 + 3 * MIN, "board", note="postmortem Monday")
    first.process([], WallClock(T0 + 2 * MIN), actions=[asked("a", why)])
    first.process([], WallClock(T0 + 3 * MIN), actions=[asked("a", note)])
    entry = first.store.closed_rollout(NAME, "a")  # type: ignore[attr-defined]
    assert entry is not None and entry.view.actions == (why, note)


@given(st.lists(actions(), max_size=5))
def test_any_actions_survive_the_byte_form_and_the_history_entry(kept: list[Action]) -> None:
    rollout = RolloutState(NAME, "k", T0, Phase.ABANDONED, closed_at=T0 + 60, actions=tuple(kept))
    back = load_rollout(NAME, "k", "abandoned", T0 + 60, dump_body(rollout))
    assert back.actions == tuple(kept)
    engine = Engine([user_service()])
    engine.rollouts[NAME]["k"] = rollout
    view = engine.view(NAME, "k")
    assert view is not None
    entry = load_entry(entry_bytes(closed_rollout(rollout, user_service())))
    assert entry.view.actions == tuple(kept)
    older = load_entry(entry_bytes(closed_with_view(view, ())))  # as entries were written
    assert older.view.actions == tuple(kept)
