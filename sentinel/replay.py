"""Replay: events run through the engine on event time (contract section 4, "The clock").

The clock is the largest event time read so far; before each event, every deadline earlier
than it fires; at the end the clock moves to `until`. Purely computational: the caller passes
the events and `read_at`, the wall-clock time for events that arrive before any timed one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from sentinel.engine import Engine
from sentinel.envelope import Envelope, Malformed, from_json
from sentinel.findings import Finding


def read_lines(lines: Iterable[bytes | str]) -> Iterator[Envelope | Malformed]:
    """JSON lines to envelopes; blank lines are skipped, each item knows its line number."""
    for number, line in enumerate(lines, start=1):
        if line.strip():
            yield from_json(line, origin=f"line {number}")


def replay(
    items: Iterable[Envelope | Malformed],
    engine: Engine,
    read_at: Callable[[], float],
    until: float | None = None,
) -> Iterator[Finding]:
    """Findings in clock order, as the events are read (a generator: the log may be endless)."""
    clock: float | None = None
    for item in items:
        event_time = item.time if isinstance(item, Envelope) else None
        if event_time is None:
            # "The time the sentinel read it": on a replay, that is the clock.
            now = clock if clock is not None else read_at()
        else:
            now = event_time if clock is None else max(clock, event_time)
        yield from engine.advance(now)
        yield from engine.apply(item, now)
        clock = now
    end = until if until is not None else clock
    if end is not None:
        yield from engine.advance(end if clock is None else max(end, clock))
