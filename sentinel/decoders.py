"""Step 1 of the pipeline for each kind of input: a record's bytes to an envelope."""

from __future__ import annotations

from sentinel.envelope import Envelope, Malformed, from_json, from_kafka
from sentinel.records import Record


class BusDecoder:
    """A Kafka record: a structured or binary-mode CloudEvent, or a plain JSON object."""

    def decode(self, record: Record) -> Envelope | Malformed:
        return from_kafka(record.value, record.headers, origin=record.origin)


class LineDecoder:
    """A line of a JSON-lines log (its offset is its line number)."""

    def decode(self, record: Record) -> Envelope | Malformed:
        return from_json(record.value or b"", origin=f"line {record.offset}")
