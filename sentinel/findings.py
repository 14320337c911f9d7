"""The finding: what the sentinel tells the world, and its one JSON shape (contract section 5)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import orjson

from sentinel.timefmt import format_rfc3339, parse_rfc3339


class Kind(StrEnum):
    """Every finding kind of the contract; values are the JSON strings."""

    STALL = "stall"
    RECOVERED = "recovered"
    OUT_OF_ORDER = "out_of_order"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    COMPLETED = "completed"
    ROLLBACK = "rollback"
    ROLLED_BACK = "rolled_back"
    SCHEMA_VIOLATION = "schema_violation"
    UNREGISTERED_EVENT = "unregistered_event"
    UNCORRELATED = "uncorrelated"
    MALFORMED = "malformed"
    # Not an engine finding: raised by the live watcher when the bus itself goes quiet.
    BUS_SILENT = "bus_silent"
    # With a schema registry (contract section 10).
    SCHEMA_CHANGED = "schema_changed"
    SCHEMA_NOT_FOUND = "schema_not_found"
    # A bound of `limits:` refused something: a rollout not opened, a type not remembered.
    CAPACITY = "capacity"


GOOD_KINDS = frozenset({Kind.COMPLETED, Kind.RECOVERED, Kind.ROLLED_BACK})
# Kinds about one rollout (the rest are about one event, or the bus).
ROLLOUT_KINDS = frozenset(
    {
        Kind.STALL,
        Kind.RECOVERED,
        Kind.OUT_OF_ORDER,
        Kind.DEADLINE_EXCEEDED,
        Kind.COMPLETED,
        Kind.ROLLBACK,
        Kind.ROLLED_BACK,
    }
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing worth telling someone about; times are epoch seconds."""

    kind: Kind
    at: float
    expectation: str | None = None
    rollout: str | None = None
    step: str | None = None
    owner: str | None = None
    event_type: str | None = None
    event_id: str | None = None
    deadline: float | None = None
    missing: tuple[str, ...] | None = None
    errors: tuple[str, ...] | None = None
    duration_s: float | None = None
    reason: str | None = None
    # Where the event came from (`source`, or the Kafka topic/partition/offset): for event findings.
    event_source: str | None = None
    # Which schema a `schema_violation` failed: "writer" (the registry's) or "reader" (the file).
    against: str | None = None
    # The writer schema of `schema_changed` (and of `schema_not_found`: the id not found).
    schema_id: int | str | None = None
    previous_schema_id: int | str | None = None
    subject: str | None = None
    version: int | str | None = None
    # The id, once computed: the store, the output, the alerts and the history each ask.
    _id: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def is_problem(self) -> bool:
        """True for every kind except completed, recovered and rolled_back."""
        return self.kind not in GOOD_KINDS

    @property
    def id(self) -> str:
        """Deterministic identity: the same finding raised twice (replay, restart) has one id."""
        if self._id is not None:
            return self._id
        parts: tuple[object, ...]
        if self.kind in ROLLOUT_KINDS:
            parts = (self.kind, self.expectation, self.rollout, self.step)
        elif self.kind == Kind.UNREGISTERED_EVENT:
            parts = (self.kind, self.event_type)
        elif self.kind == Kind.BUS_SILENT:
            parts = (self.kind, format_rfc3339(self.at))
        elif self.kind == Kind.SCHEMA_CHANGED:
            parts = (self.kind, self.event_type, self.schema_id)
        elif self.kind == Kind.CAPACITY:  # once per bound (and expectation), not per event
            parts = (self.kind, self.expectation, self.reason)
        else:
            parts = (self.kind, self.expectation, self.event_source, self.event_id, self.reason)
        joined = "\x1f".join("" if part is None else str(part) for part in parts)
        # "surrogatepass": never raises, whatever a string holds (the decoders refuse lone
        # surrogates, but an id must not be the thing that stops the sentinel).
        found = hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        object.__setattr__(self, "_id", found)  # frozen: a cache, not a change of value
        return found

    def to_json_line(self) -> str:
        """One line of `replay --format jsonl` and of `sentinel run`'s output (the same, always).

        Characters a terminal acts on that JSON leaves raw (DEL, the C1 controls such as CSI,
        line separators, bidirectional overrides) are written as `\\u` escapes: the line reads
        back as the same JSON, and a rollout key cannot clear the screen of whoever tails it.
        """
        text = orjson.dumps(self.to_json_dict()).decode()
        if _TERMINAL.search(text) is not None:
            text = _TERMINAL.sub(_escaped, text)
        return text + "\n"

    def to_json_dict(self) -> dict[str, Any]:
        """The contract's JSON object, in a stable key order."""
        return {
            "kind": str(self.kind),
            "expectation": self.expectation,
            "rollout": self.rollout,
            "step": self.step,
            "at": format_rfc3339(self.at),
            "owner": self.owner,
            "event_type": self.event_type,
            "event_id": self.event_id,
            "deadline": None if self.deadline is None else format_rfc3339(self.deadline),
            "missing": None if self.missing is None else list(self.missing),
            "errors": None if self.errors is None else list(self.errors),
            "duration_s": self.duration_s,
            "reason": self.reason,
            "event_source": self.event_source,
            "against": self.against,
            "schema_id": self.schema_id,
            "previous_schema_id": self.previous_schema_id,
            "subject": self.subject,
            "version": self.version,
            "id": self.id,
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> Finding:
        """The finding that `to_json_dict` wrote (its `id` is recomputed, not read).

        Times may also be epoch numbers, as alert outboxes of version 0.1 stored them.
        """
        return cls(
            kind=Kind(data["kind"]),
            at=_epoch(data["at"]),
            expectation=data.get("expectation"),
            rollout=data.get("rollout"),
            step=data.get("step"),
            owner=data.get("owner"),
            event_type=data.get("event_type"),
            event_id=data.get("event_id"),
            deadline=None if data.get("deadline") is None else _epoch(data["deadline"]),
            missing=None if data.get("missing") is None else tuple(data["missing"]),
            errors=None if data.get("errors") is None else tuple(data["errors"]),
            duration_s=data.get("duration_s"),
            reason=data.get("reason"),
            event_source=data.get("event_source"),
            against=data.get("against"),
            schema_id=data.get("schema_id"),
            previous_schema_id=data.get("previous_schema_id"),
            subject=data.get("subject"),
            version=data.get("version"),
        )


# orjson escapes C0 controls; these it writes as they are.
_TERMINAL = re.compile("[\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def _epoch(value: float | str) -> float:
    return parse_rfc3339(value) if isinstance(value, str) else float(value)
