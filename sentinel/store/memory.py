"""The store without `state.path`: survives a rebalance or an engine rebuild, not a restart."""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TypeVar

from sentinel.engine import EngineChanges, RolloutState
from sentinel.findings import Finding
from sentinel.store.base import StoredState, TopicPartition
from sentinel.store.codec import copy_rollout

K = TypeVar("K")


class MemoryStore:
    """Everything in dicts, bounded like the engine by its retention horizon.

    It keeps copies: the engine changes its rollouts in place, and what `load()` gives must
    be the state as of the last commit, never the effects of a batch that was not committed.
    """

    def __init__(self) -> None:
        self._rollouts: dict[tuple[str, str], RolloutState] = {}
        # (closed_at, expectation, key) in commit order, which is clock order: for pruning.
        self._closed: deque[tuple[float, str, str]] = deque()
        self._seen: dict[tuple[str, str], float] = {}
        self._unregistered: dict[str, None] = {}  # an ordered set
        self._emitted: dict[str, float] = {}
        self._offsets: dict[TopicPartition, int] = {}
        self._clock = float("-inf")
        # The outbox needs SQL even without a state file; it lives and dies with the process.
        self._connection = sqlite3.connect(":memory:", isolation_level=None)

    @property
    def connection(self) -> sqlite3.Connection:
        return self._connection

    def load(self) -> StoredState:
        return StoredState(
            rollouts=[copy_rollout(rollout) for rollout in self._rollouts.values()],
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
        fresh: list[Finding] = []
        taken: set[str] = set()
        for finding in findings:
            finding_id = finding.id
            if finding_id not in self._emitted and finding_id not in taken:
                taken.add(finding_id)
                fresh.append(finding)
        return fresh

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
            self._rollouts[identity] = copy_rollout(rollout)
            if rollout.closed_at is not None:
                self._closed.append((rollout.closed_at, *identity))
        for source, event_id, at in changes.new_events:
            self._seen.setdefault((source, event_id), at)
        self._unregistered.update(dict.fromkeys(changes.new_unregistered))
        for finding in findings:
            self._emitted.setdefault(finding.id, finding.at)
        self._offsets.update(offsets)
        self._clock = max(self._clock, changes.clock)
        self._prune(changes.horizon)
        if self._connection.in_transaction:
            self._connection.execute("COMMIT")

    def close(self) -> None:
        self._connection.close()

    def _prune(self, horizon: float) -> None:
        """Closed rollouts, event ids and finding ids older than the horizon go.

        Each is kept in insertion order, which is clock order, so the oldest are in front.
        """
        closed = self._closed
        while closed and closed[0][0] < horizon:
            closed_at, name, key = closed.popleft()
            kept = self._rollouts.get((name, key))
            if kept is not None and kept.closed_at == closed_at:
                del self._rollouts[(name, key)]
        _drop_older(self._seen, horizon)
        _drop_older(self._emitted, horizon)


def _drop_older(times: dict[K, float], horizon: float) -> None:
    while times:
        oldest = next(iter(times))
        if times[oldest] >= horizon:
            return
        del times[oldest]
