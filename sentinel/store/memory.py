"""The store without `state.path`: survives a rebalance or an engine rebuild, not a restart."""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Mapping, Sequence

from sentinel.engine import EngineChanges
from sentinel.findings import Finding
from sentinel.store.base import StoredState, TopicPartition
from sentinel.store.codec import dump_body, load_rollout
from sentinel.store.emitted import EmittedIds


class MemoryStore:
    """Everything in dicts, bounded like the engine by its retention horizon.

    Rollouts are kept in their byte form: the engine changes its rollouts in place, and what
    `load()` gives must be the state as of the last commit, never the effects of a batch that
    was not committed. Bytes are also smaller and quicker to make than copies.
    """

    def __init__(self) -> None:
        # (expectation, key) -> (phase, closed_at, body as written by codec.dump_body)
        self._rollouts: dict[tuple[str, str], tuple[str, float | None, bytes]] = {}
        # (closed_at, expectation, key) in commit order, which is clock order: for pruning.
        self._closed: deque[tuple[float, str, str]] = deque()
        self._seen: dict[tuple[str, str], float] = {}
        self._unregistered: dict[str, None] = {}  # an ordered set
        self._emitted = EmittedIds()
        self._offsets: dict[TopicPartition, int] = {}
        self._clock = float("-inf")
        # The outbox needs SQL even without a state file; it lives and dies with the process.
        self._connection = sqlite3.connect(":memory:", isolation_level=None)

    @property
    def connection(self) -> sqlite3.Connection:
        return self._connection

    def load(self) -> StoredState:
        return StoredState(
            rollouts=[
                load_rollout(name, key, phase, closed_at, body)
                for (name, key), (phase, closed_at, body) in self._rollouts.items()
            ],
            seen_events=[(source, id_, at) for (source, id_), at in self._seen.items()],
            unregistered_types=list(self._unregistered),
            clock=self._clock,
            offsets=dict(self._offsets),
        )

    def offsets(self) -> dict[TopicPartition, int]:
        return dict(self._offsets)

    def begin(self) -> None:
        if not self._connection.in_transaction:
            self._connection.execute("BEGIN IMMEDIATE")

    def new_findings(self, findings: Sequence[Finding]) -> list[Finding]:
        self.begin()
        return self._emitted.fresh(findings)

    def commit(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[TopicPartition, int],
    ) -> None:
        for identity, rollout in changes.rollouts.items():
            if rollout is None:
                self._rollouts.pop(identity, None)
                continue
            self._rollouts[identity] = (str(rollout.phase), rollout.closed_at, dump_body(rollout))
            if rollout.closed_at is not None:
                self._closed.append((rollout.closed_at, *identity))
        for source, event_id, at in changes.new_events:
            self._seen.setdefault((source, event_id), at)
        self._unregistered.update(dict.fromkeys(changes.new_unregistered))
        self._emitted.kept(self._emitted.rows(findings), changes.horizon)
        self._offsets.update(offsets)
        self._clock = max(self._clock, changes.clock)
        self._prune(changes.horizon)
        if self._connection.in_transaction:
            self._connection.execute("COMMIT")

    def close(self) -> None:
        self._connection.close()

    def _prune(self, horizon: float) -> None:
        """Closed rollouts and event ids older than the horizon go.

        Both are kept in insertion order, which is clock order, so the oldest are in front.
        """
        closed = self._closed
        while closed and closed[0][0] < horizon:
            closed_at, name, key = closed.popleft()
            kept = self._rollouts.get((name, key))
            if kept is not None and kept[1] == closed_at:
                del self._rollouts[(name, key)]
        _drop_older(self._seen, horizon)


def _drop_older(times: dict[tuple[str, str], float], horizon: float) -> None:
    while times:
        oldest = next(iter(times))
        if times[oldest] >= horizon:
            return
        del times[oldest]
