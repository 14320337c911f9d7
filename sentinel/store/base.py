"""The one small interface every state store implements (memory, SQLite, changelog)."""

from __future__ import annotations

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
    """Loads once, then writes one batch at a time, atomically."""

    def load(self) -> StoredState:
        """Everything stored; an empty StoredState for a new store."""
        ...

    def new_findings(self, findings: Sequence[Finding]) -> list[Finding]:
        """The findings whose id was never emitted before (across restarts and moves)."""
        ...

    def commit(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[TopicPartition, int],
    ) -> None:
        """One transaction: the engine's changes, the findings as emitted, the offsets."""
        ...

    def close(self) -> None: ...
