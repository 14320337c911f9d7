"""Live deadlines fire only when no unread record can meet them (contract section 4): the
watermarks alone, and a property over the pipeline with any interleaving of partitions."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.watermarks import Answer, Watermarks
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.envelope import Envelope
from sentinel.core.events.records import Partition, Record
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.core.ports.store import NullStore
from sentinel.core.rules.expectations import Expectation, Step

from .helpers import as_bytes

T0 = 1_795_600_800.0
P0, P1, P2 = (Partition("rollout.events", n) for n in range(3))
NEVER = float("-inf")


def test_a_partition_is_as_far_as_its_records_or_its_last_proof_of_being_caught_up() -> None:
    marks = Watermarks()
    marks.assign([P0, P1])
    assert marks.floor == NEVER, "nothing is known of either yet"
    marks.read(P0, T0 + 10)
    assert marks.floor == NEVER
    marks.answered({P1: Answer(end=5, position=5, since=T0 + 3)})
    assert (marks.of(P1), marks.floor) == (T0 + 3, T0 + 3)
    marks.answered({P1: Answer(end=7, position=5, since=T0 + 20)})
    assert marks.floor == T0 + 3, "behind its end: the answer proves nothing"
    marks.answered({P1: Answer(end=7, position=7, since=None)})
    assert marks.floor == T0 + 3, "an answer of unknown age proves nothing"
    marks.read(P1, T0 + 1)
    assert marks.floor == T0 + 3, "a late record does not move a watermark back"
    marks.read(P1, T0 + 12)
    assert marks.floor == T0 + 10


def test_keyed_input_holds_a_rollout_only_for_the_partitions_that_fed_it() -> None:
    marks = Watermarks(shared=False)
    marks.assign([P0, P1])
    marks.read(P0, T0 + 10)
    assert marks.limit([P0]) == T0 + 10
    assert marks.limit([P0, P1]) == NEVER
    assert marks.slowest([P0, P1]) == P1
    marks.revoke([P1])
    assert marks.floor == T0 + 10


def test_a_shared_floor_waits_for_every_partition() -> None:
    marks = Watermarks(shared=True)
    marks.assign([P0, P1])
    marks.read(P0, T0 + 10)
    assert marks.limit([P0]) == NEVER
    assert marks.slowest([P0]) is None


def _engine() -> Engine:
    chain = Expectation(
        name="chain",
        owner=None,
        correlate="data.rollout_id",
        deadline=None,
        steps=(
            Step("A"),
            Step("B", after=("A",), within=10.0),
            Step("C", after=("B",), within=10.0),
        ),
        compensation=(),
    )
    return Engine([chain])


def _record(partition: Partition, offset: int, kind: str, rollout: str, at: float) -> Record:
    event = Envelope(kind, f"{rollout}-{kind}", "/p", at, {"rollout_id": rollout})
    return Record(partition, offset, as_bytes(event))


@settings(max_examples=60, deadline=None)
@given(
    rollouts=st.lists(
        st.tuples(
            st.floats(0, 100),  # opening time after T0
            st.floats(0, 10),  # B's delay: on time (within 10s)
            st.floats(0, 10),  # C's delay
            st.lists(st.sampled_from([P0, P1, P2]), min_size=3, max_size=3),
        ),
        min_size=1,
        max_size=8,
    ),
    seed=st.integers(0, 2**32 - 1),
)
def test_on_time_rollouts_never_stall_whatever_order_the_partitions_are_read_in(
    rollouts: list[tuple[float, float, float, list[Partition]]], seed: int
) -> None:
    """Unkeyed input on three partitions, each in event-time order; the sentinel reads them in
    any interleaving and any batch sizes, long after the fact (the wall clock far ahead), and
    the broker proves a partition caught up only once it is read to its end."""
    logs: dict[Partition, list[tuple[float, str, str]]] = {P0: [], P1: [], P2: []}
    for number, (opened, b_delay, c_delay, partitions) in enumerate(rollouts):
        key = f"r{number}"
        times = (T0 + opened, T0 + opened + b_delay, T0 + opened + b_delay + c_delay)
        for kind, at, partition in zip("ABC", times, partitions, strict=True):
            logs[partition].append((at, kind, key))
    records = {
        partition: [
            _record(partition, offset, kind, key, at)
            for offset, (at, kind, key) in enumerate(sorted(log))
        ]
        for partition, log in logs.items()
    }
    engine = _engine()
    marks = Watermarks(shared=True)
    marks.assign(records)
    pipeline = Pipeline(engine, NullStore(), BusDecoder(), watermarks=marks)
    read = dict.fromkeys(records, 0)
    rng = random.Random(seed)
    now = T0 + 10_000
    kinds: list[str] = []
    while any(read[p] < len(records[p]) for p in records):
        partition = rng.choice([p for p in records if read[p] < len(records[p])])
        taken = records[partition][read[partition] : read[partition] + rng.randint(1, 3)]
        read[partition] += len(taken)
        answers = {p: Answer(len(records[p]), read[p], now) for p in records}
        now += 1
        kept = pipeline.process(taken, WallClock(now), answers=answers)
        kinds += [str(finding.kind) for finding in kept.findings]
    assert "stall" not in kinds
    assert kinds.count("completed") == len(rollouts)
