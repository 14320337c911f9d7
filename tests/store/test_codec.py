"""The byte form of a rollout keeps every field: a field the engine adds must be stored too."""

from __future__ import annotations

from dataclasses import fields

import orjson
import pytest

from sentinel.core.engine.actions import Action, Verb
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.snapshots import Phase
from sentinel.core.errors import StoreError
from sentinel.core.events.records import Partition
from sentinel.store.codec import dump_body, load_rollout

EVERY_FIELD_SET = RolloutState(
    expectation="exp",
    key="42",
    opened_at=1.5,
    phase=Phase.ROLLING_BACK,
    seen={"A": 1.5, "Undo": 9.25},
    due={"UndoDone": 1e9 + 0.125},
    stalled=("B", "C"),
    remaining=2,
    deadline_at=12.0,
    rollback="Undo",
    closed_at=99.0,
    feeds=(Partition("t", 0), Partition("t", 3)),
    counted={"A": ("e-1", "/src"), "Undo": (None, None)},
    findings=(
        Finding(Kind.STALL, 50.5, "exp", "42", step="B", owner="team", deadline=50.0),
        Finding(Kind.ROLLBACK, 60.0, "exp", "42", event_type="Undo", event_id="e-9"),
    ),
    traces={
        "A": ("00-" + "1" * 32 + "-" + "2" * 16 + "-01", None, "t/0@7"),
        "Undo": (None, "00-" + "3" * 32 + "-" + "4" * 16 + "-00", "t/3@9"),
    },
    actions=(
        Action(Verb.ACKNOWLEDGE, "ana", 1_795_600_800.25, "slack"),
        Action(Verb.SNOOZE, "bo", 1_795_600_900.0, "board", until=1_795_604_500.0),
        Action(Verb.NOTE, "bo", 1_795_601_000.5, "board", note="waiting for the DBA: ünïcode"),
    ),
)


def test_every_field_of_a_rollout_survives_the_byte_form() -> None:
    defaults = RolloutState("exp", "42", 1.5)
    unset = [
        f.name
        for f in fields(RolloutState)
        if getattr(EVERY_FIELD_SET, f.name) == getattr(defaults, f.name)
        and f.name not in {"expectation", "key", "opened_at"}
    ]
    assert unset == [], f"give these fields a value here, and store them in codec.py: {unset}"
    body = dump_body(EVERY_FIELD_SET)
    back = load_rollout("exp", "42", "rolling_back", 99.0, body)
    assert back == EVERY_FIELD_SET


@pytest.mark.parametrize("body", [b"", b"{}", b"[1, 2]", b"[1, [], {}, [], 0, null, null, []]"])
def test_bytes_that_are_not_a_rollout_are_a_store_error(body: bytes) -> None:
    with pytest.raises(StoreError, match="rollout exp/42 is damaged"):
        load_rollout("exp", "42", "open", None, body)


def test_an_unknown_phase_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="damaged"):
        load_rollout("exp", "42", "exploded", None, dump_body(EVERY_FIELD_SET))


def test_a_rollout_written_by_version_0_1_is_read_with_its_partitions() -> None:
    body = b'[1.5,{"A":1.5},{},[],2,null,null,["rollout.events/3"]]'
    rollout = load_rollout("exp", "42", "open", None, body)
    assert rollout.feeds == (Partition("rollout.events", 3),)
    assert rollout.counted == {}


def test_a_rollout_stored_before_actions_existed_loads_with_none() -> None:
    """Rows written before on-call actions (eleven fields) still load, with no actions."""
    body = dump_body(EVERY_FIELD_SET)

    old = orjson.dumps(orjson.loads(body)[:11])
    rollout = load_rollout("exp", "42", "rolling_back", 99.0, old)
    assert rollout.actions == ()
    assert rollout.traces == EVERY_FIELD_SET.traces
