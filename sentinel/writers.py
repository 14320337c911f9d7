"""Writer schemas as the core sees them (contract section 10): what a schema registry says
about the schema an event was written with, or that the registry must be asked first.

The registry itself (HTTP, caching) is an adapter (sentinel.registry); the pipeline only asks
a `WriterLookup`, which never waits: a `Need` makes the record wait for the async shell.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sentinel.envelope import Envelope
from sentinel.event_findings import schema_changed
from sentinel.expectations import Expectation
from sentinel.findings import Finding
from sentinel.framing import SchemaRef


@dataclass(frozen=True, slots=True)
class Writer:
    """The writer schema of one event: its id, subject and version where the registry says
    them, and its check; `check` is None when the registry cannot give it (`problem` says why:
    no such id, not a JSON Schema)."""

    schema_id: int | str | None
    subject: str | None
    version: int | str | None
    check: Callable[[Any], list[str]] | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Need:
    """What must be read from the registry before a record can be: a schema by the id the
    record names, or a subject's latest version (for a record that names none)."""

    ref: SchemaRef | None = None
    subject: str | None = None


class WriterLookup(Protocol):
    """Answers at once, from what was read from the registry before."""

    def writer(self, event: Envelope, topic: str) -> Writer | Need | None:
        """The event's writer schema; a Need when it must be read first; None when the event
        has none (no framing and no subject for its type)."""
        ...


class WriterIds:
    """The writer schema id of each type's last event: a new one is a `schema_changed`, said
    once per (type, new id) before the event is checked, since the first event a producer
    writes with a new schema is the one on-call must see."""

    def __init__(self) -> None:
        self._last: dict[str, int | str] = {}
        self._said: set[tuple[str, int | str]] = set()

    def change(
        self,
        event: Envelope,
        writer: Writer,
        interested: Sequence[Expectation],
        clock: float,
    ) -> Finding | None:
        schema_id = writer.schema_id
        if schema_id is None:
            return None
        previous = self._last.get(event.type)
        self._last[event.type] = schema_id
        if previous is None or previous == schema_id or (event.type, schema_id) in self._said:
            return None
        self._said.add((event.type, schema_id))
        return schema_changed(event, writer, previous, interested, clock)
