"""The watcher's loop on a fake source and a fake wall clock: lag gate, held deadlines,
rebalances, offsets, bus silence and readiness, in milliseconds and without a broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sentinel.core.events.records import Partition
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore

from .fake_source import Clock, FakeSource, fake_watcher, kinds_of
from .watcher_support import (
    FAST_EXPECTATION,
    MESSAGING,
    SCHEMA,
    SERVICE,
    SHIPPED_SCHEMAS,
    Findings,
    cloud_event,
)

T0 = 1_795_600_800.0
P0, P1 = Partition("rollout.events", 0), Partition("rollout.events", 1)
Start = Callable[..., Any]


def opened(rollout: str, at: float, event_id: str | None = None) -> bytes:
    return cloud_event("SchemaV2_Ready", rollout, event_id or f"{rollout}-1", at=at, **SCHEMA)


def running(rollout: str, at: float) -> bytes:
    return cloud_event("UserServiceV2_Running", rollout, f"{rollout}-2", at=at, **SERVICE)


async def test_a_silent_stall_fires_on_the_wall_clock_with_no_further_record(
    start: Start,
) -> None:
    source, clock = FakeSource([P0]), Clock(T0)
    watcher, findings = await start(source, clock)
    source.append(P0, opened("r1", T0))
    assert await watcher.step() == 1
    clock.now = T0 + 2.5
    assert await watcher.step() == 0
    assert kinds_of(findings) == ["stall"]
    assert findings.items[0]["at"] == "2026-11-25T10:00:02.500Z"


async def test_a_partition_behind_holds_its_deadlines_until_it_catches_up(start: Start) -> None:
    source, clock = FakeSource([P0, P1]), Clock(T0 + 60)
    # Written while the sentinel was away: every step on time, a minute ago.
    source.append(P0, opened("r1", T0))
    for number in range(5):
        source.append(P0, cloud_event("Noise", "x", f"n{number}", at=T0 + 0.5))
    source.append(P0, running("r1", T0 + 1))
    source.append(P1, opened("r2", T0))  # r2 really stalled: P1 is not behind
    watcher, findings = await start(source, clock, max_batch=2, lag_threshold=0)
    while await watcher.step():
        pass
    assert kinds_of(findings).count("stall") == 2  # r1's messaging step and r2's second step
    stalled = sorted((f["rollout"], f["step"]) for f in findings.items if f["kind"] == "stall")
    assert stalled == [("r1", "MessagingService_Reconfigured"), ("r2", "UserServiceV2_Running")]


async def test_a_full_batch_counts_as_a_backlog_whatever_the_last_lag_said(start: Start) -> None:
    source, clock = FakeSource([P0]), Clock(T0 + 60)
    source.append(P0, opened("r1", T0))
    source.append(P0, running("r1", T0 + 1))
    watcher, findings = await start(source, clock, max_batch=1, lag_threshold=100)
    await watcher.step()  # a full batch of one: UserServiceV2_Running not read yet
    assert findings.items == []
    await watcher.step()
    await watcher.step()
    assert kinds_of(findings) == ["stall"]  # only MessagingService_Reconfigured: truly late
    assert findings.items[0]["step"] == "MessagingService_Reconfigured"


async def test_offsets_are_committed_after_the_batch_is_kept_and_at_most_once_a_second(
    start: Start,
) -> None:
    source, clock = FakeSource([P0]), Clock(T0)
    watcher, _ = await start(source, clock)
    source.append(P0, opened("r1", T0))
    await watcher.step()
    assert source.committed == {P0: 1}
    source.append(P0, opened("r2", T0))
    await watcher.step()  # kept in the store, committed to the bus at the next second
    assert (source.committed, watcher.store.offsets()) == ({P0: 1}, {P0: 2})
    await watcher.close()
    assert source.committed == {P0: 2}  # a stop commits what was taken


class Deliveries:
    """Whether the watcher holds the alert sender now."""

    held = False

    def hold(self) -> None:
        self.held = True

    def release(self) -> None:
        self.held = False


class FlushRecorder(MemoryStore):
    """The memory store, noting at each flush how many findings had been printed by then and
    whether alert deliveries were held."""

    def __init__(self, deliveries: Deliveries) -> None:
        super().__init__()
        self.findings = Findings()
        self.deliveries = deliveries
        self.at_flush: list[tuple[int, bool]] = []

    async def flush(self) -> None:
        self.at_flush.append((len(self.findings.items), self.deliveries.held))
        await super().flush()


async def test_alerts_wait_for_the_store_flush_and_findings_are_printed_before_it(
    start: Start,
) -> None:
    """In changelog mode the flush puts the batch where a partition's next owner looks: a
    replica killed after alerting must leave nothing for that owner to raise (alerts are
    held). Standard output cannot be held back: a replica killed between printing and the
    flush has its batch's findings printed again by the next owner (the same ids), where
    printing after the flush would lose them."""
    deliveries = Deliveries()
    store = FlushRecorder(deliveries)
    source, clock = FakeSource([P0]), Clock(T0)
    watcher, store.findings = await start(source, clock, store=store, deliveries=deliveries)
    source.append(P0, cloud_event("Unregistered_Thing", "r1", "u1", at=T0))
    await watcher.step()
    assert kinds_of(store.findings) == ["unregistered_event"]
    assert store.at_flush == [(1, True)], "printed, and alerts held, while it flushes"
    assert not deliveries.held, "released once the batch is flushed"


async def test_records_fetched_before_a_rebalance_for_a_lost_partition_are_left_alone(
    start: Start,
) -> None:
    source, clock = FakeSource([P0, P1]), Clock(T0)
    watcher, _ = await start(source, clock)
    early = source.append(P1, opened("r9", T0))
    source.pending = [early]  # fetched, and then P1 went to another replica
    source.positions[P1] = 1
    await source.assign([P0])
    await watcher.step()
    assert watcher.engine.view("fast-user-service", "r9") is None
    assert P1 not in source.committed


async def test_a_partition_handed_over_and_back_resumes_from_the_store(
    start: Start, tmp_path: Path
) -> None:
    source, clock = FakeSource([P0]), Clock(T0)
    store = SqliteStore(tmp_path / "state.db")
    watcher, findings = await start(source, clock, store=store)
    source.append(P0, opened("r1", T0))
    await watcher.step()
    await source.revoke()
    assert watcher.engine.rollouts["fast-user-service"] == {}  # another replica owns it now
    source.committed.clear()  # that commit was lost: the store still knows the offset
    await source.assign([P0])
    assert source.positions[P0] == 1
    assert watcher.engine.view("fast-user-service", "r1") is not None
    clock.now = T0 + 3
    await watcher.step()
    assert kinds_of(findings) == ["stall"]  # its deadline came back with it


async def test_the_bus_going_silent_is_said_once_and_its_end_is_noticed(start: Start) -> None:
    source, clock = FakeSource([P0]), Clock(T0)
    watcher, findings = await start(source, clock, bus_silence=5.0)
    clock.now = T0 + 6
    await watcher.step()
    clock.now = T0 + 20
    await watcher.step()
    assert kinds_of(findings) == ["bus_silent"]
    assert watcher.registry.get_sample_value("sentinel_bus_silent") == 1
    source.append(P0, opened("r1", T0 + 20))
    await watcher.step()
    assert watcher.registry.get_sample_value("sentinel_bus_silent") == 0


async def test_ready_only_once_every_partition_has_caught_up(start: Start) -> None:
    source, clock = FakeSource([P0]), Clock(T0)
    for number in range(3):
        source.append(P0, opened(f"r{number}", T0))
    watcher, _ = await start(source, clock, max_batch=2, lag_threshold=0)
    assert watcher.readiness()[0] is False
    await watcher.step()
    assert watcher.readiness()[0] is False
    await watcher.step()
    ready, details = watcher.readiness()
    assert ready and details["lags"] == {"rollout.events/0": 0}


async def test_a_rollout_of_an_expectation_removed_while_down_is_deleted_on_start(
    expectations: Path, tmp_path: Path
) -> None:
    source, clock = FakeSource([P0]), Clock(T0)
    (expectations / "other.yaml").write_text(
        FAST_EXPECTATION.replace("fast-user-service", "other-service")
    )
    watcher, _ = fake_watcher(
        expectations, SHIPPED_SCHEMAS, source, clock, store=SqliteStore(tmp_path / "state.db")
    )
    await watcher.open()
    source.append(P0, opened("r1", T0))
    await watcher.step()
    await watcher.close()
    reopened = SqliteStore(tmp_path / "state.db")
    assert sorted(r.expectation for r in reopened.load().rollouts) == [
        "fast-user-service",
        "other-service",
    ]
    reopened.close()

    (expectations / "other.yaml").unlink()
    watcher, _ = fake_watcher(
        expectations, SHIPPED_SCHEMAS, source, clock, store=SqliteStore(tmp_path / "state.db")
    )
    await watcher.open()  # the production path: Watcher.open restores through the pipeline
    await watcher.close()
    reopened = SqliteStore(tmp_path / "state.db")
    assert [r.expectation for r in reopened.load().rollouts] == ["fast-user-service"]
    reopened.close()


async def test_every_step_of_a_rollout_completes_it(start: Start) -> None:
    source, clock = FakeSource([P0]), Clock(T0 + 1)
    watcher, findings = await start(source, clock)
    source.append(P0, opened("r1", T0))
    source.append(P0, running("r1", T0 + 0.5))
    done = cloud_event("MessagingService_Reconfigured", "r1", "r1-3", at=T0 + 0.9, **MESSAGING)
    source.append(P0, done)
    await watcher.step()
    assert kinds_of(findings) == ["completed"]
