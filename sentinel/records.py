"""What the pipeline reads, named without Kafka: a record at an offset of a partition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple


class Partition(NamedTuple):
    """One ordered feed of records: a Kafka topic partition, or the single feed of a log file.

    The one type for a partition everywhere: the engine remembers which partitions fed a
    rollout, the store keys offsets and changelogs by it, the watcher holds lagging ones.
    """

    topic: str
    number: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.number}"


# One is built per record. Not frozen: a frozen dataclass's __init__ costs three times as
# much; an `__init__` of its own, because mypyc compiles it (not the one `dataclass` makes).
@dataclass(slots=True, init=False)
class Record:
    """One record as read; `offset + 1` is what to commit once its effects are kept."""

    partition: Partition
    offset: int
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    key: bytes | None
    timestamp: float | None  # the broker's timestamp in epoch seconds, if any

    def __init__(
        self,
        partition: Partition,
        offset: int,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] = (),
        key: bytes | None = None,
        timestamp: float | None = None,
    ) -> None:
        self.partition = partition
        self.offset = offset
        self.value = value
        self.headers = headers
        self.key = key
        self.timestamp = timestamp

    @property
    def origin(self) -> str:
        """Where it was read, for findings about the record itself: `rollout.events/3@1042`."""
        return f"{self.partition}@{self.offset}"
