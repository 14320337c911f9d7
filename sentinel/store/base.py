"""The one small interface every state store implements (memory, SQLite, changelog)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sentinel.engine import EngineChanges, RolloutState
from sentinel.findings import Finding

TopicPartition = tuple[str, int]


@dataclass(frozen=True)
class StoredState:
    """What a store gives back on start (or on a partition's assignment)."""

    rollouts: Sequence[RolloutState] = ()
    seen_events: Sequence[tuple[str, str, float]] = ()
    unregistered_types: Sequence[str] = ()
    clock: float = float("-inf")
    # Next offset to read per partition, as of the last batch whose effects were kept.
    offsets: Mapping[TopicPartition, int] = field(default_factory=dict)


class StateStore(Protocol):
    """Loads once, then writes one batch at a time, atomically.

    A batch is `begin()` (or `new_findings()`, which begins), any writes of other parts on
    `connection` (the alert outbox), then `commit()`: all of it is kept, or none.
    """

    @property
    def connection(self) -> sqlite3.Connection:
        """Where the alert outbox lives, so that it commits in the store's transaction.

        In autocommit mode (`isolation_level=None`): a write made between `begin()` and
        `commit()` joins the batch; a write made outside a batch is its own transaction.
        """
        ...

    def load(self) -> StoredState:
        """Everything stored; an empty StoredState for a new store."""
        ...

    def offsets(self) -> dict[TopicPartition, int]:
        """The next offset to read per partition, as of the last commit (cheaper than load)."""
        ...

    def begin(self) -> None:
        """Open the batch's transaction on `connection`, if it is not open yet."""
        ...

    def new_findings(self, findings: Sequence[Finding]) -> list[Finding]:
        """The findings whose id was never emitted before (across restarts and moves).

        Also drops a repeated id within `findings`; begins the batch. Call it once per
        batch, with all of the batch's findings, and pass its answer to `commit()`.
        """
        ...

    def commit(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[TopicPartition, int],
    ) -> None:
        """One transaction: the engine's changes, the findings as emitted, the offsets,
        and whatever else was written on `connection` since `begin()`."""
        ...

    def close(self) -> None:
        """Let go of the store; a batch not committed is lost, as in a crash."""
        ...
