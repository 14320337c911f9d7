"""The one batch pipeline: what it skips, in which order it fires, what it keeps and when."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from engine.helpers import MIN, T0, event, kinds, user_service

from sentinel.core.engine.engine import Engine
from sentinel.core.errors import StoreError
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.core.ports.store import Batch
from sentinel.core.rules.expectations import Expectation, Step
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore

from .helpers import P0, record

OTHER = Expectation("other", "data.rollout_id", (Step("SchemaV2_Ready"), Step("Later")))


def pipeline(
    store: MemoryStore | SqliteStore | None = None, *expectations: Expectation
) -> Pipeline:
    engine = Engine(list(expectations) or [user_service()])
    return Pipeline(engine, store if store is not None else MemoryStore(), BusDecoder())


def test_a_record_below_its_partition_position_is_not_applied_again() -> None:
    sentinel = pipeline()
    sentinel.process([record(event("SchemaV2_Ready", T0, "r1"), 0)], WallClock(T0))
    assert sentinel.positions == {P0: 1}
    # The same offset again, under a new event id: only its offset says it was applied.
    again = record(event("SchemaV2_Ready", T0, "r2"), 0)
    assert sentinel.process([again], WallClock(T0)).findings == []
    assert sentinel.engine.view("user-service-v2", "r2") is None


def test_the_findings_come_back_once_and_the_offsets_are_stored_with_them() -> None:
    store = MemoryStore()
    sentinel = pipeline(store)
    kept = sentinel.process([record(event("SchemaV2_Ready", T0), 4)], WallClock(T0 + 11 * MIN))
    assert kinds(kept.findings) == ["unregistered_event", "stall"]
    assert kept.offsets == {P0: 5}
    assert store.offsets() == {P0: 5}
    assert sentinel.process([], WallClock(T0 + 12 * MIN)).findings == []


def test_a_deadline_earlier_than_an_event_fires_before_it_live_too() -> None:
    """The clock order of contract section 4, live: a late step stalls, then recovers."""
    sentinel = pipeline()
    late = event("UserServiceV2_Running", T0 + 11 * MIN)  # due at T0 + 10 min
    batch = [record(event("SchemaV2_Ready", T0), 0), record(late, 1)]
    found = sentinel.process(batch, WallClock(T0 + 12 * MIN)).findings
    assert kinds(found) == ["unregistered_event", "stall", "unregistered_event", "recovered"]
    assert found[1].at == T0 + 12 * MIN  # the clock when raised: the wall clock of the batch


def test_an_event_read_late_but_sent_in_time_raises_no_stall() -> None:
    sentinel = pipeline()
    on_time = event("UserServiceV2_Running", T0 + 9 * MIN)
    batch = [record(event("SchemaV2_Ready", T0), 0), record(on_time, 1)]
    found = sentinel.process(batch, WallClock(T0 + 12 * MIN)).findings
    assert "stall" not in kinds(found)


def test_deadlines_of_a_held_partition_wait_until_it_is_released() -> None:
    sentinel = pipeline()
    sentinel.process([record(event("SchemaV2_Ready", T0), 0)], WallClock(T0))
    assert sentinel.process([], WallClock(T0 + 11 * MIN), held={P0}).findings == []
    assert kinds(sentinel.process([], WallClock(T0 + 11 * MIN)).findings) == ["stall"]


class FailingStore(MemoryStore):
    @contextmanager
    def transaction(self) -> Iterator[Batch]:
        raise StoreError("the disk is full")
        yield  # a generator, for contextmanager


def test_the_positions_stay_when_the_batch_cannot_be_kept() -> None:
    sentinel = pipeline(FailingStore())
    sentinel.positions[P0] = 3
    with pytest.raises(StoreError):
        sentinel.process([record(event("SchemaV2_Ready", T0), 3)], WallClock(T0))
    assert sentinel.positions == {P0: 3}


def test_restoring_deletes_the_rollouts_of_an_expectation_no_longer_loaded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    pipeline(store, user_service(), OTHER).process(
        [record(event("SchemaV2_Ready", T0), 0)], WallClock(T0)
    )
    assert sorted(r.expectation for r in store.load().rollouts) == ["other", "user-service-v2"]
    state = pipeline(store).restore()
    assert len(state.rollouts) == 2
    assert [r.expectation for r in store.load().rollouts] == ["user-service-v2"]
    store.close()
