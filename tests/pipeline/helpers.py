"""Records as the bus carries them, for driving the pipeline (and the watcher) in tests."""

from __future__ import annotations

from typing import Any

import orjson

from sentinel.core.events.envelope import Envelope, Malformed
from sentinel.core.events.records import Partition, Record
from sentinel.core.timefmt import format_rfc3339

TOPIC = "rollout.events"
P0, P1 = Partition(TOPIC, 0), Partition(TOPIC, 1)


def as_bytes(item: Envelope | Malformed) -> bytes:
    """A structured CloudEvent carrying the envelope; a malformed item as bytes that are not."""
    if isinstance(item, Malformed):
        return b"\xff not an event"
    event: dict[str, Any] = {"specversion": "1.0", "type": item.type, "data": item.data}
    if item.id is not None:
        event["id"] = item.id
    if item.source is not None:
        event["source"] = item.source
    if item.time is not None:
        event["time"] = format_rfc3339(item.time)
    return orjson.dumps({**event, **item.attributes})


def record(
    item: Envelope | Malformed, offset: int, partition: Partition = P0, read_at: float | None = None
) -> Record:
    """`item` at `offset` of `partition`; `read_at` rides as the broker timestamp (TraceClock)."""
    return Record(partition, offset, as_bytes(item), timestamp=read_at)


class TraceClock:
    """A clock trace given with the records: each is read at its broker timestamp."""

    def __init__(self, end: float) -> None:
        self._end = end

    def at(self, record: Record, item: Envelope | Malformed) -> float:
        assert record.timestamp is not None, "a TraceClock needs read times on the records"
        return record.timestamp

    @property
    def now(self) -> float:
        return self._end
