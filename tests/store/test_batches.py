"""The batch driver: what it skips, what it keeps, and when the positions move."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from engine.helpers import MIN, T0, event, user_service

from sentinel.engine import Engine, EngineChanges
from sentinel.errors import StoreError
from sentinel.expectations import Expectation, Step
from sentinel.findings import Finding, Kind
from sentinel.store.base import TopicPartition
from sentinel.store.batches import Fed, process_batch, restore
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore

P0 = ("rollout.events", 0)


def fed(event_type: str, offset: int, at: float, rollout: str = "r1") -> Fed:
    return Fed(event(event_type, at, rollout), P0, offset, at)


def test_a_record_below_its_partition_position_is_not_applied_again() -> None:
    store, engine = MemoryStore(), Engine([user_service()])
    positions: dict[TopicPartition, int] = {}
    first = fed("SchemaV2_Ready", 0, T0)
    process_batch(engine, store, [first], positions)
    assert positions == {P0: 1}
    # The same record again, under a new event id: only its offset says it was applied.
    again = Fed(event("SchemaV2_Ready", T0, "r2"), P0, 0, T0)
    assert process_batch(engine, store, [again], positions) == []
    assert engine.view("user-service-v2", "r2") is None


def test_the_findings_come_back_once_and_the_offsets_are_stored_with_them() -> None:
    store, engine = MemoryStore(), Engine([user_service()])
    positions: dict[TopicPartition, int] = {}
    found = process_batch(engine, store, [fed("SchemaV2_Ready", 4, T0)], positions, T0 + 11 * MIN)
    assert [f.kind for f in found] == [Kind.UNREGISTERED_EVENT, Kind.STALL]
    assert store.offsets() == {P0: 5}
    assert process_batch(engine, store, [], positions, until=T0 + 12 * MIN) == []


class FailingStore(MemoryStore):
    def commit(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[TopicPartition, int],
    ) -> None:
        raise StoreError("the disk is full")


def test_the_positions_stay_when_the_commit_fails() -> None:
    positions: dict[TopicPartition, int] = {P0: 3}
    with pytest.raises(StoreError):
        process_batch(
            Engine([user_service()]), FailingStore(), [fed("SchemaV2_Ready", 3, T0)], positions
        )
    assert positions == {P0: 3}


def test_restoring_deletes_the_rollouts_of_an_expectation_no_longer_loaded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "state.db")
    other = Expectation("other", "data.rollout_id", (Step("SchemaV2_Ready"), Step("Later")))
    engine = Engine([user_service(), other])
    process_batch(engine, store, [fed("SchemaV2_Ready", 0, T0)], {})
    assert sorted(r.expectation for r in store.load().rollouts) == ["other", "user-service-v2"]
    state = restore(Engine([user_service()]), store)
    assert len(state.rollouts) == 2
    assert [r.expectation for r in store.load().rollouts] == ["user-service-v2"]
    store.close()
