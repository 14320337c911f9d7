"""The bounds of `limits:` hold whatever the bus sends: rollouts beyond them are not opened
(and that is said once), unknown types beyond them are counted, findings per rollout and the
value a finding echoes are cut; memory with 200,000 rollouts stays within the bound."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
from pipeline.helpers import as_bytes

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Kind
from sentinel.core.engine.limits import Limits, echoed
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.records import Partition, Record
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore

from .helpers import MIN, T0, QuietObserver, event, kinds, user_service


class Counting(QuietObserver):
    """An engine observer that keeps what the bounds refused."""

    def __init__(self) -> None:
        self.refused: list[tuple[str, str | None]] = []

    def capacity_reached(self, bound: str, expectation: str | None) -> None:
        self.refused.append((bound, expectation))


def test_rollouts_beyond_the_bound_are_not_opened_and_that_is_said_once() -> None:
    observer = Counting()
    engine = Engine([user_service()], observer=observer, limits=Limits(open_rollouts=2))
    found = []
    for number in range(5):
        found += engine.apply(event("SchemaV2_Ready", T0, f"r{number}"), T0)
    assert kinds(found) == ["unregistered_event", "capacity"]
    [capacity] = [f for f in found if f.kind is Kind.CAPACITY]
    assert capacity.expectation == "user-service-v2"
    assert "limits.open_rollouts (2)" in (capacity.reason or "")
    assert sorted(engine.rollouts["user-service-v2"]) == ["r0", "r1"], "the oldest are kept"
    assert observer.refused == [("open_rollouts", "user-service-v2")] * 3
    # One closes (rolls back): there is room for one more.
    engine.apply(event("Rollback_Initiated", T0 + 1, "r0"), T0 + 1)
    engine.apply(event("Rollback_Complete", T0 + 2, "r0"), T0 + 2)
    engine.apply(event("SchemaV2_Ready", T0 + 3, "r9"), T0 + 3)
    assert "r9" in engine.rollouts["user-service-v2"]


def test_the_bound_per_expectation_leaves_room_for_the_others() -> None:
    other = user_service().__class__(
        name="other", correlate="data.rollout_id", steps=user_service().steps
    )
    limits = Limits(open_rollouts_per_expectation=1)
    engine = Engine([user_service(), other], limits=limits)
    found = engine.apply(event("SchemaV2_Ready", T0, "a"), T0)
    found += engine.apply(event("SchemaV2_Ready", T0, "b"), T0)
    assert sorted(f.reason or "" for f in found if f.kind is Kind.CAPACITY) == [
        "open rollouts at their bound limits.open_rollouts_per_expectation (1): new rollouts"
        " of other are not watched until some close",
        "open rollouts at their bound limits.open_rollouts_per_expectation (1): new rollouts"
        " of user-service-v2 are not watched until some close",
    ]
    assert set(engine.rollouts["other"]) == {"a"} == set(engine.rollouts["user-service-v2"])


def test_unknown_types_beyond_the_bound_are_counted_not_told_one_by_one() -> None:
    observer = Counting()
    engine = Engine([user_service()], observer=observer, limits=Limits(unknown_types=3))
    found = []
    for number in range(10):
        found += engine.apply(event(f"Thing_{number}", T0), T0)
    assert kinds(found) == ["unregistered_event"] * 3 + ["capacity"]
    assert len(engine.checks.unregistered_types) == 3
    assert observer.refused == [("unknown_types", None)] * 7
    # A type an expectation names is always remembered (it is few, and it matters).
    found = engine.apply(event("SchemaV2_Ready", T0, "r1"), T0)
    assert kinds(found) == ["unregistered_event"]


def test_findings_kept_per_rollout_stop_at_the_bound_and_the_later_ones_are_still_told() -> None:
    engine = Engine([user_service()], limits=Limits(findings_per_rollout=2))
    pipeline = Pipeline(engine, MemoryStore(), BusDecoder())
    records = [
        Record(Partition("t", 0), offset, as_bytes(event(kind, T0 + offset * MIN, "r1")))
        for offset, kind in enumerate(
            ["MessagingService_Reconfigured", "UserServiceV2_Running", "SchemaV2_Ready"]
        )
    ]
    told = pipeline.process(records, WallClock(T0 + 3 * MIN)).findings
    assert [f.kind for f in told if f.rollout == "r1"].count(Kind.OUT_OF_ORDER) == 2
    assert Kind.COMPLETED in [f.kind for f in told]
    [closed] = [r for r in engine.rollouts["user-service-v2"].values()]
    assert len(closed.findings) == 2


def test_a_finding_echoes_at_most_a_kilobyte_of_an_invalid_value() -> None:
    huge = "x" * 1_000_000
    cut = echoed([f"{huge!r} is not of type 'integer'", *["short"] * 30])
    assert len(cut[0].encode()) < 1100 and cut[0].endswith("(1,000,027 characters in all)")
    assert len(cut) == 21 and cut[-1] == "... and 11 more"


@pytest.mark.slow
def test_memory_stays_within_the_bound_with_200000_rollouts_opening(tmp_path: object) -> None:
    """200,000 rollouts open on a bus whose sentinel keeps at most 50,000: the rest are
    refused and cost only their event ids (kept for deduplication for `closed_retention`);
    per open rollout, memory is what docs/operations.md ("Bounds") sizes the defaults by."""
    limits = Limits(open_rollouts=50_000, open_rollouts_per_expectation=50_000)
    for kind in ("memory", "sqlite"):
        opened, flooded = _memory(kind, limits, f"{tmp_path}/{kind}.db")
        per_rollout = opened / 50_000
        per_refused = (flooded - opened) / 150_000
        print(f"{kind}: {per_rollout:,.0f} bytes per open rollout, {per_refused:,.0f} per refused")
        assert per_rollout < {"memory": 2_400, "sqlite": 1_800}[kind], (kind, per_rollout)
        assert per_refused < 400, (kind, per_refused)


def _memory(kind: str, limits: Limits, path: str) -> tuple[int, int]:
    """Bytes held once 50,000 rollouts opened, and once 200,000 tried to."""
    store = MemoryStore() if kind == "memory" else SqliteStore(path)
    engine = Engine([user_service()], limits=limits)
    pipeline = Pipeline(engine, store, BusDecoder())
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    held = []
    for start in range(0, 200_000, 1000):
        batch = [Record(Partition("t", 0), n, _opening(n)) for n in range(start, start + 1000)]
        pipeline.process(batch, WallClock(T0 + 1))
        if start + 1000 in (50_000, 200_000):
            gc.collect()
            held.append(tracemalloc.get_traced_memory()[0] - before)
    tracemalloc.stop()
    assert len(engine.rollouts["user-service-v2"]) == 50_000
    store.close()
    return held[0], held[1]


def _opening(number: int) -> bytes:
    return (
        b'{"specversion":"1.0","id":"o%d","source":"/p","type":"SchemaV2_Ready",'
        b'"time":"2026-11-25T10:00:00Z","data":{"rollout_id":"open-%d"}}' % (number, number)
    )
