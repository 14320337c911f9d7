"""What every state store does, memory and SQLite alike: keep a batch, give it back, forget old."""

from __future__ import annotations

from dataclasses import replace

import pytest
from engine.helpers import MIN, T0, event, run, user_service

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.ports import EngineChanges
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.snapshots import Phase
from sentinel.core.events.envelope import Envelope
from sentinel.core.events.records import Partition
from sentinel.core.pipeline.replay import LOG
from sentinel.core.ports.outbox import Held
from sentinel.core.ports.store import StateStore

from .conftest import Crash, Dying, Stores, commit

A0, A1 = Partition("a", 0), Partition("a", 1)

HOUR = 60 * MIN
NAME = "user-service-v2"


def sentinel(retention_s: float = 24 * HOUR) -> Engine:
    return Engine([user_service()], retention_s=retention_s)


def keep(
    store: StateStore,
    engine: Engine,
    findings: list[Finding],
    offsets: dict[Partition, int] | None = None,
) -> list[Finding]:
    """One batch, as the pipeline keeps it: the new findings, then the write, one transaction."""
    with store.transaction() as batch:
        fresh = batch.fresh(findings)
        batch.write(engine.take_changes(), fresh, offsets or {})
    return fresh


def fresh(store: StateStore, findings: list[Finding]) -> list[Finding]:
    """The findings a batch would emit, in a transaction that keeps nothing else."""
    with store.transaction() as batch:
        return batch.fresh(findings)


def restored(store: StateStore, retention_s: float = 24 * HOUR) -> Engine:
    state = store.load()
    engine = sentinel(retention_s)
    engine.restore(state.rollouts, state.seen_events, state.clock, state.unregistered_types)
    return engine


def changes(
    rollouts: dict[tuple[str, str], RolloutState | None] | None = None,
    events: list[tuple[str, str, float]] | None = None,
    clock: float = T0,
    horizon: float = T0 - 24 * HOUR,
) -> EngineChanges:
    return EngineChanges(rollouts or {}, events or [], [], clock, horizon)


def finding(rollout: str, at: float = T0) -> Finding:
    return Finding(Kind.STALL, at, expectation=NAME, rollout=rollout, step="SchemaV2_Ready")


def rollouts_in_every_phase() -> list[Envelope]:
    return [
        # done: completes.
        event("SchemaV2_Ready", T0, "done"),
        event("UserServiceV2_Running", T0 + 2 * MIN, "done"),
        event("MessagingService_Reconfigured", T0 + 3 * MIN, "done"),
        # stalled: its second step is due at T0+10m and never comes.
        event("SchemaV2_Ready", T0, "stalled"),
        # back: rolling back, its Rollback_Complete due at T0+17m.
        event("SchemaV2_Ready", T0 + MIN, "back"),
        event("Rollback_Initiated", T0 + 2 * MIN, "back"),
        # odd: a step before its prerequisite.
        event("UserServiceV2_Running", T0 + 3 * MIN, "odd"),
        # young: opened late, nothing due yet.
        event("SchemaV2_Ready", T0 + 8 * MIN, "young"),
    ]


def later_events() -> list[Envelope]:
    return [
        event("UserServiceV2_Running", T0 + 13 * MIN, "stalled"),
        event("Rollback_Complete", T0 + 20 * MIN, "back"),
        event("SchemaV2_Ready", T0 + 21 * MIN, "odd"),
        event("MessagingService_Reconfigured", T0 + 22 * MIN, "done"),
        # A repeat of an event the first engine read: the same source and id.
        rollouts_in_every_phase()[0],
    ]


def test_a_new_store_gives_back_nothing(stores: Stores) -> None:
    state = stores.open().load()
    assert list(state.rollouts) == []
    assert list(state.seen_events) == []
    assert list(state.unregistered_types) == []
    assert state.clock == float("-inf")
    assert dict(state.offsets) == {}


def test_an_engine_restored_from_the_store_shows_and_reports_what_the_first_would(
    stores: Stores,
) -> None:
    store = stores.open()
    first = sentinel()
    found = run(first, rollouts_in_every_phase(), until=T0 + 12 * MIN, store=store)
    assert {f.kind for f in found} >= {Kind.COMPLETED, Kind.STALL, Kind.ROLLBACK}
    stores.crash()

    second = restored(stores.open())
    assert second.clock == first.clock
    for key in ("done", "stalled", "back", "odd", "young"):
        assert second.view(NAME, key) == first.view(NAME, key), key
    assert second.seen_events == first.seen_events
    assert second.checks.unregistered_types == first.checks.unregistered_types
    later = later_events()
    expected = run(first, later, until=T0 + 2 * HOUR)
    assert run(second, later, until=T0 + 2 * HOUR) == expected
    assert {f.kind for f in expected} >= {Kind.RECOVERED, Kind.ROLLED_BACK, Kind.STALL}


def test_a_rollout_the_engine_forgot_is_deleted(stores: Stores) -> None:
    store = stores.open()
    engine = sentinel(retention_s=HOUR)
    run(engine, rollouts_in_every_phase()[:3], store=store)
    assert [r.key for r in store.load().rollouts] == ["done"]
    # Past the retention the engine forgets the closed rollout, and says so in its changes.
    engine.advance(T0 + 3 * MIN + HOUR + 1)
    gone = engine.take_changes()
    assert gone.rollouts == {(NAME, "done"): None}
    commit(store, gone)
    stores.crash()
    assert list(stores.open().load().rollouts) == []


def test_closed_rollouts_and_event_ids_older_than_the_horizon_are_pruned(stores: Stores) -> None:
    store = stores.open()
    engine = sentinel()
    run(engine, rollouts_in_every_phase(), until=T0 + 12 * MIN, store=store)
    assert engine.rollouts[NAME]["done"].closed_at == T0 + 3 * MIN
    # The next batch's horizon passes the closing of `done` and the reading of every event.
    commit(store, changes(clock=T0 + 25 * HOUR, horizon=T0 + 12 * MIN + 1))
    stores.crash()
    state = stores.open().load()
    assert sorted(r.key for r in state.rollouts) == ["back", "odd", "stalled", "young"]
    assert list(state.seen_events) == []
    assert state.clock == T0 + 25 * HOUR


def test_a_finding_committed_once_is_never_new_again(stores: Stores) -> None:
    store = stores.open()
    assert keep(store, sentinel(), [finding("r1"), finding("r2")]) == [finding("r1"), finding("r2")]
    stores.crash()
    store = stores.open()
    assert fresh(store, [finding("r1"), finding("r3"), finding("r2")]) == [finding("r3")]


def test_a_finding_repeated_within_a_batch_is_kept_once(stores: Stores) -> None:
    store = stores.open()
    twice = [finding("r1"), finding("r2"), finding("r1", at=T0 + 1)]
    assert fresh(store, twice) == [finding("r1"), finding("r2")]


def test_findings_of_a_batch_that_was_not_committed_are_still_new(stores: Stores) -> None:
    store = stores.open()
    with pytest.raises(Crash), store.transaction() as batch:
        assert batch.fresh([finding("r1")]) == [finding("r1")]
        batch.write(changes(), [finding("r1")], {})
        raise Crash
    assert fresh(store, [finding("r1")]) == [finding("r1")]
    stores.crash()
    assert fresh(stores.open(), [finding("r1")]) == [finding("r1")]


def test_finding_ids_older_than_the_horizon_are_forgotten(stores: Stores) -> None:
    store = stores.open()
    commit(store, changes(), [finding("old", at=T0), finding("new", at=T0 + HOUR)])
    commit(store, changes(clock=T0 + 25 * HOUR, horizon=T0 + 1))
    assert fresh(store, [finding("old"), finding("new")]) == [finding("old")]
    stores.crash()
    assert fresh(stores.open(), [finding("old"), finding("new")]) == [finding("old")]


def test_offsets_are_the_last_committed_per_partition(stores: Stores) -> None:
    store = stores.open()
    commit(store, changes(), offsets={A0: 5, A1: 7})
    commit(store, changes(), offsets={A0: 9})
    stores.crash()
    store = stores.open()
    assert store.offsets() == {A0: 9, A1: 7}
    assert dict(store.load().offsets) == {A0: 9, A1: 7}


def test_a_batch_not_committed_changes_nothing(stores: Stores) -> None:
    store = stores.open()
    engine = sentinel()
    run(engine, rollouts_in_every_phase()[:1], store=store)
    # The second batch: applied and written, never committed.
    with pytest.raises(Crash):
        run(engine, rollouts_in_every_phase()[1:], store=Dying(store))
    stores.crash()
    state = stores.open().load()
    assert [(r.key, r.phase, dict(r.seen)) for r in state.rollouts] == [
        ("done", Phase.OPEN, {"SchemaV2_Ready": T0})
    ]
    assert len(state.seen_events) == 1
    assert dict(state.offsets) == {LOG: 1}


def held(name: str) -> Held:
    return Held(f"{name}:slack", "slack", "b", "#c", True, finding(name), None, T0, T0 + 10)


def test_alerts_put_in_the_outbox_during_a_batch_are_kept_with_it(stores: Stores) -> None:
    store = stores.open()
    with store.transaction() as batch:
        kept = batch.fresh([finding("r1")])
        store.outbox().hold(held("kept"))
        batch.write(changes(), kept, {A0: 3})
    with pytest.raises(Crash), store.transaction() as batch:
        store.outbox().hold(held("lost"))
        raise Crash
    assert store.outbox().depth("slack") == 1
    if stores.kind == "sqlite":  # the memory store's outbox lives and dies with the process
        stores.crash()
        assert stores.open().outbox().depth("slack") == 1
    [waiting] = stores.current.outbox().take_closed(T0 + 10) if stores.current else []
    assert waiting.finding == finding("kept")


def test_the_same_rollout_changed_in_two_batches_keeps_the_second(stores: Stores) -> None:
    store = stores.open()
    engine = sentinel()
    events = rollouts_in_every_phase()
    run(engine, events[:1], store=store)
    run(engine, events[1:3], store=store)
    stores.crash()
    (done,) = stores.open().load().rollouts
    assert done.phase is Phase.COMPLETED
    assert done.closed_at == T0 + 3 * MIN
    assert set(done.seen) == {step.event for step in user_service().steps}


def test_writer_schema_ids_per_type_are_kept_as_last_written(stores: Stores) -> None:
    store = stores.open()
    first = {"UserServiceV2_Running": (2, (2,)), "SchemaV2_Ready": (7, ())}
    commit(store, replace(changes(), writer_ids=first))
    commit(store, replace(changes(), writer_ids={"UserServiceV2_Running": (1, (2, 1))}))
    stores.crash()
    state = stores.open().load()
    assert dict(state.writer_ids) == {
        "UserServiceV2_Running": (1, (2, 1)),
        "SchemaV2_Ready": (7, ()),
    }
