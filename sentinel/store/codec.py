"""One compact byte form of a rollout's state, for every store that writes it to disk or Kafka."""

from __future__ import annotations

from typing import Any, Final

import orjson

from sentinel.core.engine.actions import actions_from_json, actions_to_json
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.snapshots import Phase
from sentinel.core.engine.writer_schemas import WriterMemory
from sentinel.core.errors import StoreError
from sentinel.core.events.records import Partition

_PHASES: Final = {str(phase): phase for phase in Phase}
# A rollout as a row of a state file: expectation, key, phase, closed_at, the body of
# `dump_body`, and the partition that owns it (topic and number) in changelog mode.
RolloutRow = tuple[str, str, str, float | None, bytes, str | None, int | None]


def rollout_row(rollout: RolloutState) -> RolloutRow:
    """The row a state file keeps of `rollout`: its byte form and the columns beside it."""
    home = rollout.home
    return (
        rollout.expectation,
        rollout.key,
        str(rollout.phase),
        rollout.closed_at,
        dump_body(rollout),
        None if home is None else home.topic,
        None if home is None else home.number,
    )


def dump_body(rollout: RolloutState) -> bytes:
    """Everything but the expectation, key, phase and closed time (the store's own columns).

    A JSON array, not an object: field names would be most of the bytes of a small rollout.
    """
    return orjson.dumps(
        [
            rollout.opened_at,
            rollout.seen,
            rollout.due,
            rollout.stalled,
            rollout.remaining,
            rollout.deadline_at,
            rollout.rollback,
            [tuple(feed) for feed in rollout.feeds],
            rollout.counted,
            [_finding(finding) for finding in rollout.findings],
            rollout.traces,
            actions_to_json(rollout.actions),
        ]
    )


def _finding(finding: Finding) -> dict[str, Any]:
    # Nulls and the id (a hash of the rest) are most of a finding's bytes: left out.
    return {k: v for k, v in finding.json_object().items() if v is not None and k != "id"}


def load_rollout(
    expectation: str, key: str, phase: str, closed_at: float | None, body: bytes | str
) -> RolloutState:
    """The rollout written by `dump_body` (text in files of version 1); StoreError when the
    bytes are not one.

    Checked for shape, not value by value: this runs 100,000 times on a restore, and the
    bytes are our own (a damaged page is caught by SQLite or by the JSON parser).
    """
    try:
        return rollout_from_fields(expectation, key, phase, closed_at, orjson.loads(body))
    except (orjson.JSONDecodeError, TypeError, ValueError, KeyError, IndexError) as error:
        raise StoreError(
            f"the stored state of rollout {expectation}/{key} is damaged ({error!r}): "
            "move the state file away to start from Kafka's committed offsets"
        ) from None


def rollout_from_fields(
    expectation: str, key: str, phase: str, closed_at: float | None, fields: Any
) -> RolloutState:
    """`load_rollout` of a body already parsed (a history entry holds it inside its own);
    TypeError, ValueError, KeyError or IndexError when it is not one."""
    # Version 0.1 wrote eight fields, with partitions as "topic/index" and no events.
    opened_at, seen, due, stalled, remaining, deadline_at, rollback, feeds = fields[:8]
    counted = fields[8] if len(fields) > 8 else {}
    findings = fields[9] if len(fields) > 9 else ()  # written since the history came
    traces = fields[10] if len(fields) > 10 else {}  # since tracing (contract section 13)
    actions = fields[11] if len(fields) > 11 else ()  # since on-call actions (section 14)
    if not (isinstance(seen, dict) and isinstance(due, dict) and isinstance(counted, dict)):
        raise TypeError("seen, due and counted are not objects")
    return RolloutState(
        expectation,
        key,
        opened_at,
        _PHASES[phase],
        seen,
        due,
        tuple(stalled),
        remaining,
        deadline_at,
        rollback,
        closed_at,
        tuple(_partition(feed) for feed in feeds),
        {step: (event[0], event[1]) for step, event in counted.items()},
        tuple(Finding.from_json_dict(finding) for finding in findings),
        {step: (trace[0], trace[1], trace[2]) for step, trace in traces.items()},
        actions_from_json(actions),
    )


def _partition(stored: Any) -> Partition:
    if isinstance(stored, str):  # version 0.1
        name, _, number = stored.rpartition("/")
        return Partition(name, int(number))
    # Names of their own: compiled, a variable keeps the type of its first assignment (str).
    topic, index = stored
    return Partition(topic, index)


def dump_writer_memory(memory: WriterMemory) -> bytes:
    last, said = memory
    return orjson.dumps([last, list(said)])


def load_writer_memory(event_type: str, body: bytes | str) -> WriterMemory:
    """What `dump_writer_memory` wrote; StoreError when the bytes are not that."""
    try:
        last, said = orjson.loads(body)
        if not isinstance(last, int | str) or not all(isinstance(i, int | str) for i in said):
            raise TypeError("schema ids are numbers or strings")
        return last, tuple(said)
    except (orjson.JSONDecodeError, TypeError, ValueError) as error:
        raise StoreError(
            f"the stored writer schemas of type {event_type} are damaged ({error!r}): "
            "move the state file away to start from Kafka's committed offsets"
        ) from None
