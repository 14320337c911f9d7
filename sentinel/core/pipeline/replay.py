"""Replay: an event log through the pipeline on event time (contract section 4, "The clock").

The clock is the largest event time read so far; before each event, every deadline earlier
than it fires; at the end the clock moves to `until`. Purely computational: the caller passes
the lines (or events) and `read_at`, the wall-clock time for events read before any timed one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Final

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.writer_schemas import Need, WriterLookup
from sentinel.core.errors import SentinelError
from sentinel.core.events.decoders import LineDecoder
from sentinel.core.events.envelope import Envelope, Malformed, Skipped
from sentinel.core.events.records import Partition, Record
from sentinel.core.pipeline.pipeline import EventClock, Pipeline, WallClock
from sentinel.core.ports.store import NullStore, StateStore

# A log file is one partition; its offsets are line numbers (1 for the first line).
LOG: Final = Partition("log", 0)
_FETCHES: Final = 5


class _Given:
    """Events already decoded (tests, the learner's checks): each record names one by offset."""

    def __init__(self) -> None:
        self.items: dict[int, Envelope | Malformed] = {}

    def skim(self, record: Record, skip: Collection[str]) -> Skipped | None:
        return None

    def decode(self, record: Record) -> Envelope | Malformed:
        return self.items.pop(record.offset)


def log_records(lines: Iterable[bytes | str]) -> Iterator[Record]:
    """JSON lines as records of the log partition; blank lines are skipped, not numbered away."""
    for number, line in enumerate(lines, start=1):
        # Not line.strip(): it copies every line to find the few blank ones.
        if line and not line.isspace():
            yield Record(LOG, number, line.encode() if isinstance(line, str) else line)


def read_lines(lines: Iterable[bytes | str]) -> Iterator[Envelope | Malformed]:
    """JSON lines to envelopes, each knowing its line number (for readers of whole logs)."""
    decoder = LineDecoder()
    for record in log_records(lines):
        yield decoder.decode(record)


# Asks the registry for what records wait for; raises a SentinelError when it cannot answer.
Fetch = Callable[[Sequence[Need]], None]


def replay_lines(
    lines: Iterable[bytes | str],
    engine: Engine,
    read_at: Callable[[], float],
    until: float | None = None,
    batch: int = 1,
    writers: tuple[WriterLookup, Fetch] | None = None,
) -> Iterator[Finding]:
    """Findings in clock order, as the lines are read (a generator: the log may be endless).

    `batch` lines go through the pipeline at a time: more is faster, 1 says each finding as
    soon as its line is read (for a log that is still being written). With `writers` (a
    registry's lookup and how to fetch what it lacks), events are held to their writer
    schemas too.
    """
    lookup, fetch = writers if writers is not None else (None, None)
    pipeline = Pipeline(engine, NullStore(), LineDecoder(), writers=lookup)
    clock = EventClock(read_at)
    pending: list[Record] = []
    for record in log_records(lines):
        pending.append(record)
        if len(pending) >= batch:
            yield from _through(pipeline, pending, clock, fetch)
            pending = []
    if pending:
        yield from _through(pipeline, pending, clock, fetch)
    yield from _finish(pipeline, clock, until)


def _through(
    pipeline: Pipeline, records: list[Record], clock: EventClock, fetch: Fetch | None
) -> Iterator[Finding]:
    """The records through the pipeline; those that wait for the registry once it answered
    (records applied before are skipped by their offsets)."""
    for _ in range(_FETCHES):
        kept = pipeline.process(records, clock)
        yield from kept.findings
        if not kept.waiting:
            return
        if fetch is None:
            raise SentinelError("a record names a writer schema, and no registry is given")
        fetch(kept.needs)
    raise SentinelError(f"the registry did not give {kept.needs[0]} after {_FETCHES} tries")


def replay(
    items: Iterable[Envelope | Malformed],
    engine: Engine,
    read_at: Callable[[], float],
    until: float | None = None,
    store: StateStore | None = None,
) -> Iterator[Finding]:
    """The same for events already decoded, one at a time; kept in `store` if one is given
    (each event is then its own batch, at an offset of the log partition from 0)."""
    given = _Given()
    pipeline = Pipeline(engine, store if store is not None else NullStore(), given)
    clock = EventClock(read_at)
    for offset, item in enumerate(items):
        given.items[offset] = item
        yield from pipeline.process([Record(LOG, offset, None)], clock).findings
    yield from _finish(pipeline, clock, until)


def _finish(pipeline: Pipeline, clock: EventClock, until: float | None) -> Iterator[Finding]:
    """At the end of the input the clock moves to `until`, firing every deadline up to it."""
    end = max(until, clock.now) if until is not None else clock.now
    if end != -math.inf:
        yield from pipeline.process([], WallClock(end)).findings
