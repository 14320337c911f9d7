"""A history entry is written small (the closed rollout's state and its expectation's shape),
read back to the view the engine showed when the rollout closed, and entries written before
(the rendered view) are still read."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest
from engine.helpers import MIN, T0, event, run, user_service

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Kind
from sentinel.core.engine.rollout import view_of
from sentinel.core.engine.snapshots import Phase
from sentinel.core.errors import StoreError
from sentinel.core.events.envelope import Envelope
from sentinel.core.events.records import Partition
from sentinel.core.ports.history import closed_rollout, closed_with_view
from sentinel.core.rules.expectations import Step
from sentinel.store.history_codec import entry_bytes, load_entry

NAME = "user-service-v2"
HOME = Partition("rollout.events", 2)
# Written by the version before entries were kept small, for this very rollout (`rolled_back`).
BEFORE = Path(__file__).parent / "data" / "history_entry_rendered_view.json"


def rolled_back(key: str = "r7") -> list[Envelope]:
    """Late (a stall, then its recovery), rolled back: every part of a view has a value."""
    return [
        event("SchemaV2_Ready", T0, key, event_id="a1"),
        event("UserServiceV2_Running", T0 + 12 * MIN, key, event_id="a2"),
        event("Rollback_Initiated", T0 + 13 * MIN, key, event_id="a3"),
        event("Rollback_Complete", T0 + 14 * MIN, key, event_id="a4"),
    ]


def closed_engine() -> Engine:
    engine = Engine([user_service()])
    run(engine, rolled_back())
    return engine


def test_an_entry_reads_back_as_the_view_the_engine_showed_at_the_close() -> None:
    engine = closed_engine()
    rollout = engine.rollouts[NAME]["r7"]
    entry = load_entry(entry_bytes(closed_rollout(rollout, engine.expectations[NAME], HOME)))
    assert entry.view == engine.view(NAME, "r7")
    assert entry.findings == rollout.findings
    assert [f.kind for f in entry.findings] == [
        Kind.STALL, Kind.RECOVERED, Kind.ROLLBACK, Kind.ROLLED_BACK,
    ]  # fmt: skip
    assert (entry.identity, entry.home) == ((NAME, "r7"), HOME)
    assert (entry.opened_at, entry.closed_at) == (T0, T0 + 14 * MIN)


def test_an_entry_keeps_the_expectation_it_closed_under_after_a_reload() -> None:
    """Read without the expectations loaded now: a later edit of the file (a step more, no
    deadline) does not change how a rollout that closed before it looks."""
    engine = closed_engine()
    rollout = engine.rollouts[NAME]["r7"]
    before = engine.view(NAME, "r7")
    written = entry_bytes(closed_rollout(rollout, engine.expectations[NAME]))
    changed = replace(
        user_service(deadline=None),
        steps=(*user_service().steps, Step("Cache_Warmed", after=("UserServiceV2_Running",))),
    )
    assert view_of(changed, rollout) != before  # what reading with the new one would show
    entry = load_entry(written)
    assert entry.view == before
    assert [step.step for step in entry.view.steps][-1] == "MessagingService_Reconfigured"
    assert entry.view.deadline_at == T0 + 30 * MIN


def test_an_entry_written_before_the_history_was_kept_small_is_read_as_it_was() -> None:
    engine = closed_engine()
    entry = load_entry(BEFORE.read_bytes())
    assert entry.view == engine.view(NAME, "r7")
    assert entry.findings == engine.rollouts[NAME]["r7"].findings
    assert entry.view.phase is Phase.ROLLED_BACK
    assert (entry.identity, entry.home, entry.closed_at) == ((NAME, "r7"), HOME, T0 + 14 * MIN)
    # Sent on (the history topic) or kept again as it came: the same bytes.
    assert entry_bytes(entry) == BEFORE.read_bytes()
    again = load_entry(entry_bytes(closed_with_view(entry.view, entry.findings, HOME)))
    assert again.view == entry.view


def test_an_entry_is_smaller_than_the_rendered_view_it_replaces() -> None:
    engine = closed_engine()
    rollout = engine.rollouts[NAME]["r7"]
    small = entry_bytes(closed_rollout(rollout, engine.expectations[NAME], HOME))
    assert len(small) < len(BEFORE.read_bytes()) * 0.7


def test_the_bytes_of_an_entry_are_made_once_and_can_be_the_rows_own() -> None:
    engine = closed_engine()
    entry = closed_rollout(engine.rollouts[NAME]["r7"], engine.expectations[NAME])
    first = entry_bytes(entry)
    assert entry_bytes(entry) is first
    assert entry_bytes(load_entry(first)) == first


@pytest.mark.parametrize(
    "damaged",
    [b"", b"[]", b'{"view": {}}', b'{"expectation": {"name": "x"}}', b'{"home": 3}'],
)
def test_a_damaged_entry_is_a_store_error(damaged: bytes) -> None:
    with pytest.raises(StoreError, match="damaged"):
        load_entry(damaged)


def test_an_entry_whose_state_is_damaged_says_so_of_the_entry_not_the_state_file() -> None:
    engine = closed_engine()
    written = orjson.loads(
        entry_bytes(closed_rollout(engine.rollouts[NAME]["r7"], engine.expectations[NAME]))
    )
    written["state"] = [T0]  # a body of one field where eight at least are written
    with pytest.raises(StoreError, match="a history entry is damaged") as raised:
        load_entry(orjson.dumps(written))
    assert "move the state file" not in str(raised.value)
