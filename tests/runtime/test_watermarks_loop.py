"""When a live deadline may fire (contract section 4, made precise): the watcher's loop on a fake
source whose broker can freeze or be absent, on a fake wall clock, in milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sentinel.core.events.records import Partition

from .fake_source import Clock, FakeSource, fake_watcher, kinds_of
from .watcher_support import (
    MESSAGING,
    SCHEMA,
    SERVICE,
    SHIPPED_SCHEMAS,
    cloud_event,
)

T0 = 1_795_600_800.0
P0, P1 = Partition("rollout.events", 0), Partition("rollout.events", 1)
Start = Callable[..., Any]


def schema(rollout: str, at: float) -> bytes:
    return cloud_event("SchemaV2_Ready", rollout, f"{rollout}-1", at=at, **SCHEMA)


def service(rollout: str, at: float) -> bytes:
    return cloud_event("UserServiceV2_Running", rollout, f"{rollout}-2", at=at, **SERVICE)


def messaging(rollout: str, at: float) -> bytes:
    return cloud_event("MessagingService_Reconfigured", rollout, f"{rollout}-3", at=at, **MESSAGING)


async def test_a_partition_read_far_ahead_fires_no_deadline_another_partition_may_still_meet(
    start: Start,
) -> None:
    """Unkeyed input: r1's second step is on P1, on time, but P0 is read first and far ahead."""
    source, clock = FakeSource([P0, P1]), Clock(T0 + 60)
    source.append(P0, schema("r1", T0))
    for number in range(6):  # P0's own events, ten seconds on
        source.append(P0, cloud_event("Noise", "x", f"n{number}", at=T0 + 10 + number))
    source.append(P1, service("r1", T0 + 1))
    source.append(P1, messaging("r1", T0 + 2))
    source.pause([P1])  # not fetched yet (a slow leader, a full fetch of P0)
    watcher, findings = await start(source, clock, lag_threshold=1000)
    while await watcher.step():
        pass
    assert "stall" not in kinds_of(findings), "P1 was never read past T0+2 nor shown caught up"
    source.resume([P1])
    while await watcher.step():
        pass
    await watcher.step()
    assert kinds_of(findings) == ["unregistered_event", "completed"]


async def test_an_idle_partition_that_answers_holds_nothing_back(start: Start) -> None:
    source, clock = FakeSource([P0, P1]), Clock(T0)
    watcher, findings = await start(source, clock)
    source.append(P0, schema("r1", T0))
    await watcher.step()
    clock.now = T0 + 2.5  # P1 never has a record, but the broker says so after the deadline
    await watcher.step()
    assert kinds_of(findings) == ["stall"]


async def test_a_frozen_broker_holds_every_deadline_and_the_probes_say_why(start: Start) -> None:
    source, clock = FakeSource([P0]), Clock(T0)
    watcher, findings = await start(source, clock, unreachable_after=10.0)
    source.append(P0, schema("r1", T0))
    source.append(P0, schema("r2", T0))
    await watcher.step()
    source.frozen = True  # SIGSTOP: no answer, no error
    for second in range(1, 30):
        clock.now = T0 + second
        await watcher.step()
    assert findings.items == [], "nothing is known of what the producers sent meanwhile"
    ready, details = watcher.readiness()
    assert not ready
    assert details["kafka"]["reachable"] is False
    assert details["kafka"]["since"] == "2026-11-25T10:00:00Z"
    assert "no answer" in details["kafka"]["error"]
    metrics = watcher.registry
    assert metrics.get_sample_value("sentinel_deadlines_held") == 1
    assert metrics.get_sample_value("sentinel_kafka_reachable") == 0
    assert metrics.get_sample_value("sentinel_last_fetch_timestamp_seconds") == T0
    healthy, _ = watcher.health()
    assert healthy, "a frozen broker is not a reason to restart the sentinel"
    # The broker comes back with what the producers buffered: r1's steps were on time.
    source.append(P0, service("r1", T0 + 1))
    source.append(P0, messaging("r1", T0 + 2))
    source.frozen = False
    clock.now = T0 + 31
    await watcher.step()
    assert kinds_of(findings) == ["completed", "stall"], "r1 was on time; r2 really stalled"
    assert findings.items[-1]["rollout"] == "r2"
    assert watcher.registry.get_sample_value("sentinel_kafka_reachable") == 1
    assert watcher.readiness()[1]["kafka"] == {"reachable": True}


async def test_no_broker_at_start_keeps_the_sentinel_up_and_trying(expectations: Path) -> None:
    source, clock = FakeSource([P0]), Clock(T0)
    source.unreachable = True
    watcher, findings = fake_watcher(
        expectations, SHIPPED_SCHEMAS, source, clock, unreachable_after=10.0
    )
    opening = asyncio.create_task(watcher.open())
    try:
        await asyncio.sleep(0.05)
        assert not opening.done(), "it waits for a broker instead of exiting"
        assert watcher.health()[0], "alive: a restart would not help"
        clock.now = T0 + 11
        ready, details = watcher.readiness()
        assert not ready
        assert details["kafka"]["reachable"] is False
        assert details["kafka"]["error"] == "cannot reach Kafka at fake:9: connection refused"
        assert watcher.registry.get_sample_value("sentinel_kafka_reachable") == 0
        source.unreachable = False  # the broker is there now: the next attempt joins
        await asyncio.wait_for(opening, 10)
        source.append(P0, schema("r1", T0 + 11))
        assert await watcher.step() == 1
        assert watcher.readiness()[1]["kafka"] == {"reachable": True}
        assert findings.items == []
    finally:
        opening.cancel()
        await watcher.close()
