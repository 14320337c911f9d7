"""Step 1 of the pipeline for each kind of input: a record's bytes to an envelope."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from sentinel.core.events.envelope import (
    Envelope,
    Malformed,
    Skipped,
    binary_mode,
    from_json,
    from_kafka,
    skim,
)
from sentinel.core.events.framing import IdKind, SchemaRef, framed_by_header, unframe
from sentinel.core.events.records import Record
from sentinel.core.events.structured_skim import skim_structured

# How a JSON-lines log says which writer schema an event was written with (docs/registry.md).
SCHEMA_ID_ATTRIBUTE: Final = "schemaid"
# Anywhere in a line, even inside its data: such a line is always read in full.
_NAMES_A_SCHEMA: Final = f'"{SCHEMA_ID_ATTRIBUTE}"'.encode()


class BusDecoder:
    """A Kafka record: a structured or binary-mode CloudEvent, or a plain JSON object, framed
    by a schema registry or not (contract sections 1 and 10)."""

    def __init__(self, registry: bool = False) -> None:
        self._registry = registry  # whether a registry is there to read framed records

    def skim(self, record: Record, skip: Collection[str]) -> Skipped | None:
        """A record of a type in `skip`, binary mode (its headers) or structured (its value's
        top-level `type`), unless a registry's framing names its writer schema (then its
        value is checked against it)."""
        value, headers = record.value, record.headers
        if (value and value[0] <= 1) or (headers and framed_by_header(headers)):
            return None
        if headers:
            found = skim(value, headers, skip)
            # A binary-mode value is data: a `type` inside it names nothing.
            if found is not None or binary_mode(headers):
                return found
        return skim_structured(value, skip) if value else None

    def decode(self, record: Record) -> Envelope | Malformed:
        if record.fault is not None:
            return Malformed(record.fault, record.origin)
        unframed = unframe(record.value, record.headers)
        if unframed.reason is not None:
            return Malformed(unframed.reason, record.origin)
        ref = unframed.ref
        if ref is not None and not self._registry:
            return Malformed(
                f"framed by a schema registry ({ref}), but no registry is configured: add"
                " `registry:` to the config to read it",
                record.origin,
            )
        item = from_kafka(unframed.payload, record.headers, origin=record.origin)
        if ref is not None and isinstance(item, Envelope):
            item.schema_ref = ref
        return item


class LineDecoder:
    """A line of a JSON-lines log (its offset is its line number); the attribute `schemaid`
    names the writer schema the event was written with, as a registry's framing would."""

    def skim(self, record: Record, skip: Collection[str]) -> Skipped | None:
        """A line of a type in `skip`, as a structured record on the bus is (so that replay
        passes over what the live watcher does), unless it may name its writer schema."""
        value = record.value
        if not value or value.find(_NAMES_A_SCHEMA) >= 0:  # find: see structured_skim
            return None
        return skim_structured(value, skip)

    def decode(self, record: Record) -> Envelope | Malformed:
        item = from_json(record.value or b"", origin=f"line {record.offset}")
        if isinstance(item, Envelope) and SCHEMA_ID_ATTRIBUTE in item.attributes:
            named = item.attributes[SCHEMA_ID_ATTRIBUTE]
            if isinstance(named, str) and named.isdigit():
                named = int(named)
            if isinstance(named, int) and not isinstance(named, bool) and named > 0:
                item.schema_ref = SchemaRef(IdKind.CONFLUENT_ID, named)
            elif isinstance(named, str) and named.count("-") == 4:
                item.schema_ref = SchemaRef(IdKind.CONFLUENT_GUID, named)
            else:
                return Malformed(
                    f"{SCHEMA_ID_ATTRIBUTE} must be a schema id (a positive number) or a GUID,"
                    f" not {named!r}",
                    item.origin,
                )
        return item
