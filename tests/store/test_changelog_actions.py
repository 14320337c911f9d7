"""On-call actions follow their rollout through the changelog (contract section 14: replicated
in changelog mode): the replica that takes a partition over has every action of its rollouts,
and an abandoned rollout's history entry names them."""

from __future__ import annotations

import pytest
from engine.helpers import T0

from sentinel.core.engine.actions import Requested, make_action
from sentinel.core.engine.snapshots import Phase
from sentinel.core.events.records import Partition
from sentinel.core.pipeline.pipeline import WallClock

from .conftest import Replica
from .test_changelog import NAME, Feeder, pipeline_of, process

pytestmark = pytest.mark.broker


async def test_a_partitions_next_owner_has_every_action_of_its_rollouts(
    topic: str, replica: Replica
) -> None:
    a = await replica("a")
    await a.assign([Partition(topic, 0)])
    feeder = Feeder(topic)
    first = pipeline_of(a)
    process(first, [feeder.fed("SchemaV2_Ready", n, T0 + n) for n in (0, 2)])
    ack = make_action("acknowledge", "ana", T0 + 10, "slack")
    note = make_action("note", "bo", T0 + 11, "board", note="DBA paged")
    why = make_action("abandon", "bo", T0 + 12, "board", note="bad image")
    asked = [Requested(NAME, "r0", ack), Requested(NAME, "r0", note), Requested(NAME, "r2", why)]
    kept = first.process([], WallClock(T0 + 12), actions=asked)
    assert all(outcome.applied for outcome in kept.acted)
    await a.flush()
    await a.revoke([Partition(topic, 0)])

    b = await replica("b")
    await b.assign([Partition(topic, 0)])
    second = pipeline_of(b)
    assert second.engine.rollouts[NAME]["r0"].actions == (ack, note)
    abandoned = second.engine.rollouts[NAME]["r2"]
    assert (abandoned.phase, abandoned.actions) == (Phase.ABANDONED, (why,))
    await b.refresh_history()
    entry = b.closed_rollout(NAME, "r2")
    assert entry is not None and entry.view.actions == (why,)
