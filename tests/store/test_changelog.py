"""The changelog mode against the real broker: rollouts follow their partition between replicas."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from engine.helpers import MIN, T0, event, user_service
from pipeline.helpers import TraceClock, record

from sentinel.core.engine.engine import Engine
from sentinel.core.errors import StoreError
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.records import Partition, Record
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.store.changelog import ChangelogStore, changelog_topic

from .conftest import Replica

pytestmark = pytest.mark.broker
NAME = "user-service-v2"
Produce = Callable[..., Awaitable[tuple[int, int]]]  # the `produce` fixture of tests/conftest.py


class Feeder:
    """Records of rollouts keyed to partitions: r0, r2, ... on partition 0, r1, r3 on 1."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.next_offset = {0: 0, 1: 0}

    def fed(self, event_type: str, rollout: int, at: float) -> Record:
        partition = rollout % 2
        offset = self.next_offset[partition]
        self.next_offset[partition] += 1
        item = event(event_type, at, f"r{rollout}")
        return record(item, offset, Partition(self.topic, partition), read_at=at)


def pipeline_of(store: ChangelogStore) -> Pipeline:
    """A pipeline restored from the store, as a replica has it after an assignment."""
    pipeline = Pipeline(Engine([user_service()], retention_s=60 * MIN), store, BusDecoder())
    pipeline.restore()
    return pipeline


def process(pipeline: Pipeline, records: list[Record], until: float | None = None) -> None:
    """Each record read at its own time, then the clock moved to `until`."""
    if records:
        end = records[-1].timestamp
        assert end is not None
        pipeline.process(records, TraceClock(end))
    if until is not None:
        pipeline.process([], WallClock(until))


async def test_a_partition_moves_to_another_replica_with_its_rollouts(
    topic: str, replica: Replica
) -> None:
    a = await replica("a")
    await a.assign([Partition(topic, 0), Partition(topic, 1)])
    feeder = Feeder(topic)
    engine_a = pipeline_of(a)
    opening = [feeder.fed("SchemaV2_Ready", n, T0 + n) for n in range(4)]
    second = feeder.fed("UserServiceV2_Running", 0, T0 + 5)
    process(engine_a, [*opening, second])
    await a.flush()
    await a.revoke([Partition(topic, 0)])
    assert sorted(r.key for r in a.load().rollouts) == ["r1", "r3"]

    b = await replica("b")
    await b.assign([Partition(topic, 0)])
    assert sorted(r.key for r in b.load().rollouts) == ["r0", "r2"]
    assert b.offsets() == {(topic, 0): 3}
    engine_b = pipeline_of(b)
    for key in ("r0", "r2"):
        assert engine_b.engine.view(NAME, key) == engine_a.engine.view(NAME, key)
    # Their deadlines came along: r0's third step and r2's second one.
    stalls = engine_b.engine.advance(T0 + 11 * MIN)
    assert [(f.kind, f.rollout, f.step) for f in stalls] == [
        ("stall", "r0", "MessagingService_Reconfigured"),
        ("stall", "r2", "UserServiceV2_Running"),
    ]


async def test_a_forgotten_rollout_is_forgotten_by_the_next_owner(
    topic: str, replica: Replica
) -> None:
    a = await replica("a")
    await a.assign([Partition(topic, 0)])
    feeder = Feeder(topic)
    engine = pipeline_of(a)
    steps = ("SchemaV2_Ready", "UserServiceV2_Running", "MessagingService_Reconfigured")
    done = [feeder.fed(step, 0, T0 + n * MIN) for n, step in enumerate(steps)]
    process(engine, [*done, feeder.fed("SchemaV2_Ready", 2, T0 + 3 * MIN)])
    # Past the retention the completed r0 is forgotten; r2 (stalled, still open) is kept.
    process(engine, [], until=T0 + 2 * 60 * MIN)
    await a.flush()
    await a.revoke([Partition(topic, 0)])

    b = await replica("b")
    await b.assign([Partition(topic, 0)])
    assert [r.key for r in b.load().rollouts] == ["r2"]


async def test_a_replica_taking_a_partition_back_reads_only_what_came_after_its_snapshot(
    topic: str, replica: Replica
) -> None:
    feeder = Feeder(topic)
    a = await replica("a")
    await a.assign([Partition(topic, 0)])
    engine_a = pipeline_of(a)
    opening = [feeder.fed("SchemaV2_Ready", n * 2, T0) for n in range(50)]
    process(engine_a, opening)
    await a.revoke([Partition(topic, 0)])

    b = await replica("b")
    await b.assign([Partition(topic, 0)])
    assert b.restores[Partition(topic, 0)] == (0, 52)
    engine_b = pipeline_of(b)
    process(engine_b, [feeder.fed("UserServiceV2_Running", 0, T0 + MIN)])
    await b.revoke([Partition(topic, 0)])

    await a.assign([Partition(topic, 0)])
    # A's own records (50 rollouts, the type it found unregistered, its position) are not
    # read again; B's are: its rollout, the type it found unregistered, its position.
    assert a.restores[Partition(topic, 0)] == (52, 55)
    engine_a = pipeline_of(a)
    assert engine_a.engine.view(NAME, "r0") == engine_b.engine.view(NAME, "r0")
    assert a.offsets() == {(topic, 0): 51}


async def test_commits_the_broker_never_had_before_a_crash_reach_it_after_the_restart(
    topic: str, replica: Replica
) -> None:
    feeder = Feeder(topic)
    a = await replica("a")
    await a.assign([Partition(topic, 0)])
    engine = pipeline_of(a)
    process(engine, [feeder.fed("SchemaV2_Ready", 0, T0)])
    await a.flush()
    # Committed to the file, never sent: the process dies here.
    process(engine, [feeder.fed("SchemaV2_Ready", 2, T0 + 1)])
    a.close()

    again = await replica("a")
    await again.assign([Partition(topic, 0)])
    assert sorted(r.key for r in again.load().rollouts) == ["r0", "r2"]
    await again.revoke([Partition(topic, 0)])

    b = await replica("b")
    await b.assign([Partition(topic, 0)])
    assert sorted(r.key for r in b.load().rollouts) == ["r0", "r2"]
    assert b.offsets() == {(topic, 0): 2}


async def test_after_a_crash_the_changelog_wins_when_another_replica_wrote_since(
    topic: str, replica: Replica
) -> None:
    feeder = Feeder(topic)
    a = await replica("a")
    await a.assign([Partition(topic, 0)])
    engine_a = pipeline_of(a)
    process(engine_a, [feeder.fed("SchemaV2_Ready", 0, T0)])
    await a.flush()
    lost = feeder.fed("SchemaV2_Ready", 2, T0 + 1)
    process(engine_a, [lost])  # never sent: A dies
    a.close()

    # B takes the partition, reads the lost record again, and goes further.
    b = await replica("b")
    await b.assign([Partition(topic, 0)])
    engine_b = pipeline_of(b)
    further = [lost, feeder.fed("SchemaV2_Ready", 4, T0 + 2)]
    process(engine_b, further)
    await b.revoke([Partition(topic, 0)])

    again = await replica("a")
    await again.assign([Partition(topic, 0)])
    assert sorted(r.key for r in again.load().rollouts) == ["r0", "r2", "r4"]
    assert again.offsets() == {(topic, 0): 3}


async def test_a_foreign_record_in_the_changelog_is_a_store_error(
    topic: str, replica: Replica, produce: Produce
) -> None:
    a = await replica("a")
    await produce(changelog_topic(topic, topic), b"{}", key=b"r[1, 2", partition=0)
    with pytest.raises(StoreError, match="at offset 0 is not a sentinel changelog record"):
        await a.assign([Partition(topic, 0)])
