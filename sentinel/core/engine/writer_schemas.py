"""Writer schemas as the core sees them (contract section 10): what a schema registry says
about the schema an event was written with, or that the registry must be asked first.

The registry itself (HTTP, caching) is an adapter (sentinel.registry); the pipeline only asks
a `WriterLookup`, which never waits: a `Need` makes the record wait for the async shell.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sentinel.core.engine.finding_factory import schema_changed, schema_not_found, schema_violation
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.limits import DEFAULT_LIMITS, Limits
from sentinel.core.events.envelope import Envelope
from sentinel.core.events.framing import SchemaRef
from sentinel.core.rules.expectations import Expectation


# Made per framed record: not frozen, and an `__init__` that mypyc compiles (a frozen
# dataclass's generated one is interpreted and sets each field through object.__setattr__).
@dataclass(slots=True, init=False)
class Writer:
    """The writer schema of one event: its id, subject and version where the registry says
    them, and its check; `check` is None when the registry cannot give it (`problem` says why:
    no such id, not a JSON Schema)."""

    schema_id: int | str | None
    subject: str | None
    version: int | str | None
    check: Callable[[Any], list[str]] | None
    problem: str | None

    def __init__(
        self,
        schema_id: int | str | None,
        subject: str | None,
        version: int | str | None,
        check: Callable[[Any], list[str]] | None,
        problem: str | None = None,
    ) -> None:
        self.schema_id = schema_id
        self.subject = subject
        self.version = version
        self.check = check
        self.problem = problem


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


@dataclass(slots=True, init=False)  # made per framed record: as Writer
class Checked:
    """An event held to its writer schema: what to say, and whether it may advance rollouts."""

    findings: list[Finding]
    passed: bool

    def __init__(self, findings: list[Finding], passed: bool) -> None:
        self.findings = findings
        self.passed = passed


SchemaId = int | str
# What is remembered of a type, and kept by the state store: its last event's writer schema
# id, and the ids a `schema_changed` was said for, in the order said.
WriterMemory = tuple[SchemaId, tuple[SchemaId, ...]]


class WriterIds:
    """The writer schema id of each type's last event: a new one is a `schema_changed`, said
    once per (type, new id) before the event is checked, since the first event a producer
    writes with a new schema is the one on-call must see.

    Kept across restarts (`take_changed`, `restore`): a producer that changes its schema
    while the sentinel is down is still reported, and a change is never said twice.
    """

    def __init__(self) -> None:
        self._last: dict[str, SchemaId] = {}
        self._said: dict[str, list[SchemaId]] = {}
        self._changed: set[str] = set()

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
        event_type = event.type
        previous = self._last.get(event_type)
        if previous == schema_id:
            return None
        self._last[event_type] = schema_id
        self._changed.add(event_type)
        said = self._said.setdefault(event_type, [])
        if previous is None or schema_id in said:
            return None
        said.append(schema_id)
        return schema_changed(event, writer, previous, interested, clock)

    def take_changed(self) -> dict[str, WriterMemory]:
        """What changed since the last call, per type, for a state store; resets the record."""
        changed = {
            event_type: (self._last[event_type], tuple(self._said.get(event_type, ())))
            for event_type in sorted(self._changed)
        }
        self._changed = set()
        return changed

    def restore(self, memory: Mapping[str, WriterMemory]) -> None:
        """Remember what a store kept; types seen since (a partition restored late) win."""
        for event_type, (last, said) in memory.items():
            if event_type not in self._last:
                self._last[event_type] = last
                self._said[event_type] = list(said)


def check_writer(
    event: Envelope,
    writer: Writer,
    primary: bool,
    interested: Sequence[Expectation],
    ids: WriterIds,
    clock: float,
    limits: Limits = DEFAULT_LIMITS,
) -> Checked:
    """Hold `event` to its writer schema; only the primary copy of an event speaks."""
    findings: list[Finding] = []
    if primary and writer.check is not None:  # an id the registry lacks changes nothing
        change = ids.change(event, writer, interested, clock)
        if change is not None:
            findings.append(change)
    if writer.check is None:
        if primary:
            findings.append(schema_not_found(event, writer, interested, clock))
        return Checked(findings, False)
    errors = writer.check(event.as_written)
    if errors:
        if primary:
            findings.append(schema_violation(event, errors, interested, clock, "writer", limits))
        return Checked(findings, False)
    return Checked(findings, True)
