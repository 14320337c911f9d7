"""The store without `state.path`: survives a rebalance or an engine rebuild, not a restart."""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.ports import EngineChanges
from sentinel.core.engine.retention import forget_before
from sentinel.core.engine.writer_schemas import WriterMemory
from sentinel.core.events.records import Partition
from sentinel.core.ports.history import (
    DEFAULT_HISTORY_RETENTION_S,
    ClosedRollout,
    ExpectationOf,
    closed_in,
)
from sentinel.core.ports.outbox import Outbox
from sentinel.core.ports.store import Batch, LocalStore, StoredState
from sentinel.store.codec import dump_body, load_rollout
from sentinel.store.emitted import EmittedIds
from sentinel.store.history_codec import entry_bytes, load_entry
from sentinel.store.sqlite_outbox import SqliteOutbox


class MemoryStore(LocalStore):
    """Everything in dicts, bounded like the engine by its retention horizon.

    Rollouts are kept in their byte form: the engine changes its rollouts in place, and what
    `load()` gives must be the state as of the last commit, never the effects of a batch that
    was not committed. Bytes are also smaller and quicker to make than copies.
    """

    def __init__(self, history_retention_s: float = DEFAULT_HISTORY_RETENTION_S) -> None:
        self.history_retention_s = history_retention_s
        # (expectation, key) -> (opened_at, closed_at, entry as ClosedRollout.dump wrote it)
        self._history: dict[tuple[str, str], tuple[float, float, bytes]] = {}
        # (closed_at, expectation, key) in commit order, which is clock order: for pruning.
        self._history_closed: deque[tuple[float, str, str]] = deque()
        # (expectation, key) -> (phase, closed_at, body as written by codec.dump_body)
        self._rollouts: dict[tuple[str, str], tuple[str, float | None, bytes]] = {}
        # (closed_at, expectation, key) in commit order, which is clock order: for pruning.
        self._closed: deque[tuple[float, str, str]] = deque()
        self._seen: dict[tuple[str, str], float] = {}
        self._unregistered: dict[str, None] = {}  # an ordered set
        self._writer_ids: dict[str, WriterMemory] = {}
        self._emitted = EmittedIds()
        self._offsets: dict[Partition, int] = {}
        self._clock = float("-inf")
        # Alerts need an outbox even without a state file: an in-memory SQLite one, made on
        # first use, that lives and dies with the process like everything else here.
        self._outbox: SqliteOutbox | None = None
        self._outbox_connection: sqlite3.Connection | None = None

    def load(self, partitions: Collection[Partition] | None = None) -> StoredState:
        rollouts = [
            load_rollout(name, key, phase, closed_at, body)
            for (name, key), (phase, closed_at, body) in self._rollouts.items()
        ]
        if partitions is not None:
            return StoredState(
                rollouts=[r for r in rollouts if r.home in partitions],
                clock=self._clock,
                offsets={tp: off for tp, off in self._offsets.items() if tp in partitions},
            )
        return StoredState(
            rollouts=rollouts,
            seen_events=[(source, id_, at) for (source, id_), at in self._seen.items()],
            unregistered_types=list(self._unregistered),
            writer_ids=dict(self._writer_ids),
            clock=self._clock,
            offsets=dict(self._offsets),
        )

    def offsets(self) -> dict[Partition, int]:
        return dict(self._offsets)

    @contextmanager
    def transaction(self) -> Iterator[Batch]:
        batch = _MemoryBatch(self._emitted)
        connection = self._outbox_connection
        if connection is not None:
            connection.execute("BEGIN IMMEDIATE")
        try:
            yield batch
        except BaseException:
            if connection is not None:
                connection.execute("ROLLBACK")
            raise
        if batch.changes is not None:
            self._apply(batch.changes, batch.findings, batch.offsets)
            self._keep_history(batch.changes.clock, batch.closed)
        if connection is not None:
            connection.execute("COMMIT")

    def outbox(self) -> Outbox:
        if self._outbox is None:
            self._outbox_connection = sqlite3.connect(":memory:", isolation_level=None)
            self._outbox = SqliteOutbox(self._outbox_connection)
        return self._outbox

    def history(self, expectation: str | None = None) -> Iterator[ClosedRollout]:
        chosen = [
            (opened_at, identity, entry)
            for identity, (opened_at, _, entry) in self._history.items()
            if expectation is None or identity[0] == expectation
        ]
        chosen.sort(reverse=True)
        for _, _, entry in chosen:
            yield load_entry(entry)

    def closed_rollout(self, expectation: str, key: str) -> ClosedRollout | None:
        kept = self._history.get((expectation, key))
        return None if kept is None else load_entry(kept[2])

    def close(self) -> None:
        if self._outbox_connection is not None:
            self._outbox_connection.close()

    def _apply(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[Partition, int],
    ) -> None:
        for identity, rollout in changes.rollouts.items():
            if rollout is None:
                self._rollouts.pop(identity, None)
                continue
            body = _exact(dump_body(rollout))
            self._rollouts[identity] = (str(rollout.phase), rollout.closed_at, body)
            if rollout.closed_at is not None:
                self._closed.append((rollout.closed_at, *identity))
        for source, event_id, at in changes.new_events:
            self._seen.setdefault((source, event_id), at)
        self._unregistered.update(dict.fromkeys(changes.new_unregistered))
        self._writer_ids.update(changes.writer_ids)
        self._emitted.kept(self._emitted.rows(findings), changes.horizon)
        self._offsets.update(offsets)
        self._clock = max(self._clock, changes.clock)
        self._prune(changes.horizon)

    def _keep_history(self, clock: float, closed: Sequence[ClosedRollout]) -> None:
        for entry in closed:
            closed_at = entry.closed_at
            # The state as `_apply` just wrote it (unless pruned already): not made twice.
            row = self._rollouts.get(entry.identity)
            made = entry_bytes(entry, None if row is None else row[2])
            self._history[entry.identity] = (entry.opened_at, closed_at, _exact(made))
            self._history_closed.append((closed_at, *entry.identity))
        _forget_closed(self._history_closed, self._history, clock - self.history_retention_s)

    def _prune(self, horizon: float) -> None:
        """Closed rollouts and event ids older than the horizon go.

        Both are kept in insertion order, which is clock order, so the oldest are in front.
        """
        _forget_closed(self._closed, self._rollouts, horizon)
        forget_before(self._seen, horizon)


def _exact(made: bytes) -> bytes:
    """`made` in a buffer of its own size: orjson hands its bytes back in the buffer it wrote
    them to (4 KiB for a rollout of 200 bytes), which is fine for a moment and a waste for a
    row kept as long as its rollout is open (measured: 5.8 kB per open rollout, now 1.7)."""
    return bytes(memoryview(made))


# A row keyed by (expectation, key) whose second field is its closed time.
_Row = TypeVar("_Row", bound=tuple[Any, ...])


def _forget_closed(
    order: deque[tuple[float, str, str]], rows: dict[tuple[str, str], _Row], horizon: float
) -> None:
    """The rows closed before `horizon` go; `order` holds (closed_at, expectation, key) in
    clock order, so the oldest are in front (a row written again since keeps its place)."""
    while order and order[0][0] < horizon:
        closed_at, name, key = order.popleft()
        kept = rows.get((name, key))
        if kept is not None and kept[1] == closed_at:
            del rows[(name, key)]


class _MemoryBatch:
    """A batch's writes, staged until the transaction ends."""

    def __init__(self, emitted: EmittedIds) -> None:
        self._emitted = emitted
        self.changes: EngineChanges | None = None
        self.findings: Sequence[Finding] = ()
        self.offsets: Mapping[Partition, int] = {}
        self.closed: Sequence[ClosedRollout] = ()

    def fresh(self, findings: Sequence[Finding]) -> list[Finding]:
        return self._emitted.fresh(findings)

    def write(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[Partition, int],
        expectation_of: ExpectationOf | None = None,
    ) -> None:
        self.changes, self.findings, self.offsets = changes, findings, offsets
        self.closed = [] if expectation_of is None else closed_in(changes, expectation_of)
