"""One batch of records through the engine and into the store, in the order that makes a crash
harmless: apply, drop findings already emitted, commit state + findings + offsets together.

No Kafka and no asyncio here: the live watcher, the crash property test and the benchmark
drive the same two functions.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, MutableMapping
from dataclasses import dataclass

from sentinel.engine import Engine, EngineChanges, RolloutState
from sentinel.envelope import Envelope, Malformed
from sentinel.findings import Finding
from sentinel.store.base import StateStore, StoredState, TopicPartition


@dataclass(frozen=True, slots=True)
class Fed:
    """One record for the engine: what it says, where it was read, and the clock then."""

    item: Envelope | Malformed
    partition: TopicPartition
    offset: int
    now: float


def feed_name(partition: TopicPartition) -> str:
    """The engine's name for a partition's feed (what `held_feeds` holds): `topic/partition`."""
    return f"{partition[0]}/{partition[1]}"


def restore(engine: Engine, store: StateStore) -> StoredState:
    """Fill a new engine from the store; rollouts of expectations no longer loaded are deleted.

    Returns what was loaded: its `offsets` are where each partition's reading resumes.
    """
    state = store.load()
    engine.restore(state.rollouts, state.seen_events, state.clock, state.unregistered_types)
    orphans: dict[tuple[str, str], RolloutState | None] = {
        (rollout.expectation, rollout.key): None
        for rollout in state.rollouts
        if rollout.expectation not in engine.expectations
    }
    if orphans:
        # The engine skipped them; left in the store, they would stay there for ever.
        horizon = engine.clock - engine.retention_s
        store.commit(EngineChanges(orphans, [], [], engine.clock, horizon), [], {})
    return state


def process_batch(
    engine: Engine,
    store: StateStore,
    records: Iterable[Fed],
    positions: MutableMapping[TopicPartition, int],
    until: float | None = None,
    held_feeds: Collection[str] = (),
) -> list[Finding]:
    """Apply `records`, move the clock to `until`, keep it all; the findings to emit.

    Each record is applied as replay does (every deadline before its `now` fires first), so
    the findings do not depend on where one batch ends and the next begins. A record below
    its partition's position was applied before (redelivered after a crash): it is skipped.
    `positions` (next offset per partition, from the store's `offsets()` at start) moves on
    only once the batch is committed; it is then what to commit to Kafka. The findings come
    back after the commit: emitted before it, a crash would say them twice.
    """
    findings: list[Finding] = []
    taken: dict[TopicPartition, int] = {}
    for fed in records:
        position = taken.get(fed.partition, positions.get(fed.partition))
        if position is not None and fed.offset < position:
            continue
        findings += engine.advance(fed.now, held_feeds)
        findings += engine.apply(fed.item, fed.now, feed=feed_name(fed.partition))
        taken[fed.partition] = fed.offset + 1
    if until is not None:
        findings += engine.advance(until, held_feeds)
    fresh = store.new_findings(findings)
    store.commit(engine.take_changes(), fresh, taken)
    positions.update(taken)
    return fresh
