"""The history in changelog mode, against the real broker: a rollout one replica closes is in
every replica's history (read on start and on demand), its entry survives a crash before the
broker had it, and past the retention its owner's tombstone removes it everywhere."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from engine.helpers import MIN, T0, user_service

from sentinel.core.engine.engine import Engine
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.records import Partition
from sentinel.core.pipeline.pipeline import Pipeline
from sentinel.store.changelog import ChangelogStore

from .test_changelog import Feeder, process

pytestmark = pytest.mark.broker
NAME = "user-service-v2"
HOUR = 60 * MIN
STEPS = ("SchemaV2_Ready", "UserServiceV2_Running", "MessagingService_Reconfigured")
Replica = Callable[..., Awaitable[ChangelogStore]]


def pipeline_of(store: ChangelogStore) -> Pipeline:
    pipeline = Pipeline(Engine([user_service()], retention_s=HOUR), store, BusDecoder())
    pipeline.restore()
    return pipeline


async def close_r0(store: ChangelogStore, topic: str) -> Pipeline:
    """r0 (partition 0) completes on `store`'s replica, kept locally (not flushed)."""
    await store.assign([Partition(topic, 0)])
    feeder = Feeder(topic)
    pipeline = pipeline_of(store)
    process(pipeline, [feeder.fed(step, 0, T0 + n * MIN) for n, step in enumerate(STEPS)])
    return pipeline


async def test_a_rollout_closed_by_one_replica_is_in_the_history_of_every_replica(
    topic: str, replica: Replica
) -> None:
    a, b = await replica("a"), await replica("b")
    await close_r0(a, topic)
    await a.flush()
    assert b.closed_rollout(NAME, "r0") is None  # not read yet
    await b.refresh_history()
    entry = b.closed_rollout(NAME, "r0")
    assert entry is not None
    assert entry.home == Partition(topic, 0)
    assert [str(f.kind) for f in entry.findings] == ["completed"]
    late = await replica("c")  # a replica that starts later reads it on start
    assert late.closed_rollout(NAME, "r0") is not None


async def test_an_entry_kept_locally_but_never_sent_is_sent_after_a_restart(
    topic: str, replica: Replica
) -> None:
    a = await replica("a")
    await close_r0(a, topic)
    await a.history_topic.stop()
    a.close()  # a crash: the local commit holds r0's entry, the broker never had it
    restarted = await replica("a")
    await restarted.flush()
    b = await replica("b")
    assert b.closed_rollout(NAME, "r0") is not None


async def test_past_the_retention_the_owner_tombstones_the_entry_for_everyone(
    topic: str, replica: Replica
) -> None:
    a, b = await replica("a", history_retention_s=HOUR), await replica("b")
    pipeline = await close_r0(a, topic)
    await a.flush()
    await b.refresh_history()
    assert b.closed_rollout(NAME, "r0") is not None
    process(pipeline, [], until=T0 + 2 * HOUR)  # closed at T0+2m: past the hour
    await a.flush()
    assert a.closed_rollout(NAME, "r0") is None
    await b.refresh_history()
    assert b.closed_rollout(NAME, "r0") is None
