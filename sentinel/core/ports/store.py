"""What the pipeline needs of a state store: load once, then keep one batch at a time, atomically.

The stores (memory, SQLite, changelog) live in `sentinel.store`; this is their interface, in
the core so that the pipeline can use it without knowing any of them. Every store has the
same lifecycle: the Kafka-facing calls (`start`, `assign`, `revoke`, `flush`, `stop`) are
no-ops where they mean nothing, so no caller asks which store it has.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.ports import EngineChanges
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.writer_schemas import WriterMemory
from sentinel.core.errors import StoreError
from sentinel.core.events.records import Partition
from sentinel.core.ports.history import ClosedRollout, ExpectationOf
from sentinel.core.ports.outbox import Outbox


@dataclass(frozen=True)
class StoredState:
    """What a store gives back on start (or on a partition's assignment)."""

    rollouts: Sequence[RolloutState] = ()
    seen_events: Sequence[tuple[str, str, float]] = ()
    unregistered_types: Sequence[str] = ()
    writer_ids: Mapping[str, WriterMemory] = field(default_factory=dict)
    clock: float = float("-inf")
    # Next offset to read per partition, as of the last batch whose effects were kept.
    offsets: Mapping[Partition, int] = field(default_factory=dict)


class Batch(Protocol):
    """The writes of one batch, inside the store's transaction (`StateStore.transaction`)."""

    def fresh(self, findings: Sequence[Finding]) -> list[Finding]:
        """The findings whose id was never emitted (across restarts and moves), each id once.

        Call it once per batch with all of the batch's findings; `write` what it returns.
        """
        ...

    def write(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[Partition, int],
        expectation_of: ExpectationOf | None = None,
    ) -> None:
        """The engine's changes, the findings as emitted, the next offset per partition.

        With `expectation_of` (the expectation of a name, as loaded now), the rollouts that
        closed in the batch go to the history (`sentinel.core.ports.history.closed_in`);
        history older than its retention on the changes' clock is forgotten.
        """
        ...


class StateStore(Protocol):
    """Engine state, emitted finding ids, offsets and the alert outbox, kept together."""

    def load(self, partitions: Collection[Partition] | None = None) -> StoredState:
        """Everything this replica holds (None), or only the rollouts and offsets of
        `partitions` (after their assignment; event ids are not repeated then)."""
        ...

    def offsets(self) -> dict[Partition, int]:
        """The next offset to read per partition, as of the last commit."""
        ...

    def transaction(self) -> AbstractContextManager[Batch]:
        """One batch: all of it (outbox writes included) is kept on a clean exit, none of it
        on an exception. Raises StoreError when it cannot be written."""
        ...

    def outbox(self) -> Outbox:
        """The alert outbox, whose writes inside `transaction()` are part of the batch."""
        ...

    def history(self, expectation: str | None = None) -> Iterable[ClosedRollout]:
        """The closed rollouts of the history (of one expectation), newest opened first."""
        ...

    def closed_rollout(self, expectation: str, key: str) -> ClosedRollout | None:
        """One rollout of the history, or None."""
        ...

    async def refresh_history(self) -> None:
        """Bring in what other replicas closed since the last call (changelog mode)."""
        ...

    async def start(self) -> None:
        """Connect whatever the store needs besides its file (the changelog's producer)."""
        ...

    async def assign(self, partitions: Collection[Partition]) -> None:
        """Partitions just assigned to this replica: bring their state in before `load`."""
        ...

    async def revoke(self, partitions: Collection[Partition]) -> None:
        """Partitions about to leave: everything kept for them is sent where the next
        owner reads it."""
        ...

    async def flush(self) -> None:
        """Wait until what the last transactions kept is durable beyond this process; Kafka
        offsets are committed only after it returns."""
        ...

    async def stop(self) -> None:
        """Flush and let go of the connections `start` made (the file stays open)."""
        ...

    def close(self) -> None:
        """Let go of the store; a transaction not committed is lost, as in a crash."""
        ...


class LocalStore:
    """A store with nothing to connect, hand over, send or read from elsewhere (everything is
    in this process): the Kafka-facing half of the lifecycle, as no-ops. Only the changelog
    store has work to do when partitions move, before offsets are committed, or when the
    history is read."""

    async def start(self) -> None:
        pass

    async def assign(self, partitions: Collection[Partition]) -> None:
        pass

    async def revoke(self, partitions: Collection[Partition]) -> None:
        pass

    async def flush(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def refresh_history(self) -> None:
        pass


class NullStore(LocalStore):
    """Keeps nothing: for `sentinel replay`, which reads a whole log and resumes nothing.

    The engine never raises one finding twice within a run, so every finding is fresh.
    """

    def load(self, partitions: Collection[Partition] | None = None) -> StoredState:
        return StoredState()

    def offsets(self) -> dict[Partition, int]:
        return {}

    @contextmanager
    def transaction(self) -> Iterator[Batch]:
        yield _NullBatch()

    def outbox(self) -> Outbox:
        raise StoreError("alerts need a state store: a replay keeps nothing")

    def history(self, expectation: str | None = None) -> Iterable[ClosedRollout]:
        return ()

    def closed_rollout(self, expectation: str, key: str) -> ClosedRollout | None:
        return None

    def close(self) -> None:
        pass


class _NullBatch:
    def fresh(self, findings: Sequence[Finding]) -> list[Finding]:
        return list(findings)

    def write(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[Partition, int],
        expectation_of: ExpectationOf | None = None,
    ) -> None:
        pass
