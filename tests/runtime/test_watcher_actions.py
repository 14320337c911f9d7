"""On-call actions in the live loop (contract section 14): `Watcher.act` wakes a loop that
waits for records, is taken in the next batch, and answers once that batch is kept; the fetch
it interrupted goes on, and its records come with the next step."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sentinel.core.engine.actions import UnknownRollout, make_action
from sentinel.core.events.records import Partition, Record

from .fake_source import Clock, FakeSource
from .watcher_support import SCHEMA, cloud_event

T0 = 1_795_600_800.0
P0 = Partition("rollout.events", 0)
Start = Callable[..., Any]
NAME = "fast-user-service"


class Quiet(FakeSource):
    """A source that waits out its fetch's timeout when it has nothing, as a consumer does."""

    async def fetch(self, max_records: int, timeout_s: float) -> list[Record]:
        records = await super().fetch(max_records, timeout_s)
        if not records:
            await asyncio.sleep(timeout_s)
            records = await super().fetch(max_records, timeout_s)
        return records


async def test_an_action_wakes_the_loop_and_is_answered_once_kept(start: Start) -> None:
    source, clock = Quiet([P0]), Clock(T0)
    watcher, _ = await start(source, clock, tick=3600.0)
    source.append(P0, cloud_event("SchemaV2_Ready", "r1", "r1-1", at=T0, **SCHEMA))
    assert await watcher.step() == 1
    waiting = asyncio.create_task(watcher.step())  # nothing to read: waits for an hour
    await asyncio.sleep(0.01)
    ack = make_action("acknowledge", "ana", T0 + 1, "slack")
    outcome = await asyncio.wait_for(watcher.act(NAME, "r1", ack), 5)
    assert outcome.applied and outcome.actions == (ack,)
    assert await asyncio.wait_for(waiting, 5) == 0
    assert watcher.engine.rollouts[NAME]["r1"].actions == (ack,)
    assert watcher.store.load().rollouts[0].actions == (ack,)
    # The fetch that was waiting is still the loop's: a record now comes with the next step.
    source.append(P0, cloud_event("SchemaV2_Ready", "r2", "r2-1", at=T0 + 2, **SCHEMA))
    assert await asyncio.wait_for(watcher.step(), 5) == 1


async def test_a_refused_action_is_answered_with_why(start: Start) -> None:
    source, clock = Quiet([P0]), Clock(T0)
    watcher, _ = await start(source, clock, tick=3600.0)
    waiting = asyncio.create_task(watcher.step())
    ack = make_action("acknowledge", "ana", T0, "board")
    outcome = await asyncio.wait_for(watcher.act(NAME, "forged", ack), 5)
    assert isinstance(outcome.refused, UnknownRollout)
    await asyncio.wait_for(waiting, 5)
    assert watcher.store.load().rollouts == []
