"""What the pipeline reads, named without Kafka: a record at an offset of a partition."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

# A Kafka header: its name, and its value (null is allowed).
Header = tuple[str, bytes | None]


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
    headers: Sequence[Header]
    key: bytes | None
    timestamp: float | None  # the broker's timestamp in epoch seconds, if any
    # Why the Kafka client could not hand this record over (its bytes are then unknown): the
    # pipeline reports it as malformed and reads on.
    fault: str | None

    def __init__(
        self,
        partition: Partition,
        offset: int,
        value: bytes | None,
        headers: Sequence[Header] = (),
        key: bytes | None = None,
        timestamp: float | None = None,
        fault: str | None = None,
    ) -> None:
        self.partition = partition
        self.offset = offset
        self.value = value
        self.headers = headers
        self.key = key
        self.timestamp = timestamp
        self.fault = fault

    @property
    def origin(self) -> str:
        """Where it was read, for findings about the record itself: `rollout.events/3@1042`."""
        # Partition's own __str__, spelled out: made for every record, and a call to a
        # NamedTuple's method from compiled code goes through Python (1,750 instructions).
        partition = self.partition
        return f"{partition.topic}/{partition.number}@{self.offset}"


class Message(Protocol):
    """A record as a Kafka client hands it over (aiokafka's ConsumerRecord)."""

    @property
    def offset(self) -> int: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[Header]: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int: ...  # epoch milliseconds; negative when there is none


def from_messages(partition: Partition, messages: Iterable[Message]) -> list[Record]:
    """One partition's messages as records (here, compiled: once per record)."""
    records = []
    for message in messages:
        stamp = message.timestamp
        records.append(
            Record(
                partition,
                message.offset,
                message.value,
                message.headers,
                message.key,
                stamp / 1000 if stamp >= 0 else None,
            )
        )
    return records


def merged_by_time(by_partition: list[list[Record]]) -> list[Record]:
    """Batches of several partitions in broker-timestamp order, each partition's own order
    kept (its timestamps may go back): the closest a consumer gets to the order in which
    events were produced. On equal times the partition given first goes first."""
    if len(by_partition) < 2:
        return [record for batch in by_partition for record in batch]
    # A merge of a few lists (one per partition fetched), not heapq.merge: its generators
    # cost a microsecond per record, this loop a tenth of that once compiled.
    merged: list[Record] = []
    heads = [0] * len(by_partition)
    remaining = sum(len(batch) for batch in by_partition)
    while remaining:
        best = -1
        best_time = 0.0
        for index, batch in enumerate(by_partition):
            head = heads[index]
            if head < len(batch):
                stamp = batch[head].timestamp
                at = stamp if stamp is not None else 0.0
                if best < 0 or at < best_time:
                    best, best_time = index, at
        merged.append(by_partition[best][heads[best]])
        heads[best] += 1
        remaining -= 1
    return merged
