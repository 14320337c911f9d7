"""The finding: what the sentinel tells the world, and its one JSON shape (contract section 5)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from sentinel.core.engine.kinds import GOOD_KINDS, KINDS, ROLLOUT_KINDS, Kind
from sentinel.core.engine.tracing import finding_span_id
from sentinel.core.timefmt import format_rfc3339, parse_rfc3339

# The kinds are described in sentinel.core.engine.kinds; the names stay importable from here.
__all__ = ["GOOD_KINDS", "ROLLOUT_KINDS", "Finding", "Kind"]


# Built for every finding, and read back from every stored rollout. Not frozen, and an
# `__init__` of its own: a frozen dataclass's generated one is interpreted and sets each of
# the 25 fields through object.__setattr__ (4.3 us a finding, compiled, against 0.5 us). Never
# changed once built all the same: `dataclasses.replace` makes a changed copy.
@dataclass(slots=True, init=False)
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
    # Tracing (contract section 13): the rollout's trace, the producers' traces behind the
    # finding, and a link to the trace when `tracing.trace_url` is set. Not part of the id.
    trace_id: str | None = None
    event_trace_ids: tuple[str, ...] = ()
    trace_url: str | None = None
    # The id, once computed: the store, the output, the alerts and the history each ask.
    _id: str | None = field(default=None, init=False, repr=False, compare=False)
    # The JSON object, once built: the output line, the rollout's row (written again in each
    # batch that changes the rollout), the history entry and the alerts each ask, and building
    # it (two RFC 3339 times, a SHA-256 for the span id) cost a tenth of a live batch.
    _json: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def __init__(
        self,
        kind: Kind,
        at: float,
        expectation: str | None = None,
        rollout: str | None = None,
        step: str | None = None,
        owner: str | None = None,
        event_type: str | None = None,
        event_id: str | None = None,
        deadline: float | None = None,
        missing: tuple[str, ...] | None = None,
        errors: tuple[str, ...] | None = None,
        duration_s: float | None = None,
        reason: str | None = None,
        event_source: str | None = None,
        against: str | None = None,
        schema_id: int | str | None = None,
        previous_schema_id: int | str | None = None,
        subject: str | None = None,
        version: int | str | None = None,
        trace_id: str | None = None,
        event_trace_ids: tuple[str, ...] = (),
        trace_url: str | None = None,
    ) -> None:
        self.kind = kind
        self.at = at
        self.expectation = expectation
        self.rollout = rollout
        self.step = step
        self.owner = owner
        self.event_type = event_type
        self.event_id = event_id
        self.deadline = deadline
        self.missing = missing
        self.errors = errors
        self.duration_s = duration_s
        self.reason = reason
        self.event_source = event_source
        self.against = against
        self.schema_id = schema_id
        self.previous_schema_id = previous_schema_id
        self.subject = subject
        self.version = version
        self.trace_id = trace_id
        self.event_trace_ids = event_trace_ids
        self.trace_url = trace_url
        self._id = None
        self._json = None

    def __hash__(self) -> int:
        # A value, as when it was frozen: findings that compare equal have the same id (it is
        # made of fields that compare), so they hash alike.
        return hash(self.id)

    @property
    def span_id(self) -> str | None:
        """The finding's own span in its rollout's trace; None without a rollout."""
        return None if self.trace_id is None else finding_span_id(self.id)

    @property
    def is_problem(self) -> bool:
        """True for every kind that is not good news (completed, recovered, rolled_back)."""
        return self.kind not in GOOD_KINDS

    @property
    def id(self) -> str:
        """Deterministic identity: the same finding raised twice (replay, restart) has one id."""
        if self._id is not None:
            return self._id
        # The fields its kind names (sentinel.core.engine.kinds): one per rollout and step,
        # per event, ...
        parts: list[object] = [self.kind]
        for name in KINDS[self.kind].identity:
            parts.append(format_rfc3339(self.at) if name == "at" else getattr(self, name))
        joined = "\x1f".join("" if part is None else str(part) for part in parts)
        # "surrogatepass": never raises, whatever a string holds (the decoders refuse lone
        # surrogates, but an id must not be the thing that stops the sentinel).
        found = hashlib.sha256(joined.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        self._id = found
        return found

    def to_json_line(self) -> str:
        """One line of `replay --format jsonl` and of `sentinel run`'s output (the same, always).

        Characters a terminal acts on that JSON leaves raw (DEL, the C1 controls such as CSI,
        line separators, bidirectional overrides) are written as `\\u` escapes: the line reads
        back as the same JSON, and a rollout key cannot clear the screen of whoever tails it.
        """
        text = orjson.dumps(self.json_object()).decode()
        if _TERMINAL.search(text) is not None:
            text = _TERMINAL.sub(_escaped, text)
        return text + "\n"

    def to_json_dict(self) -> dict[str, Any]:
        """The contract's JSON object, in a stable key order (a new dict: callers add keys)."""
        return dict(self.json_object())

    def json_object(self) -> Mapping[str, Any]:
        """The same object, kept once built and not copied, for writers that only read it
        (the output line, the stores' bytes)."""
        built = self._json
        if built is None:
            built = self._built()
            self._json = built
        return built

    def _built(self) -> dict[str, Any]:
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
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "event_trace_ids": list(self.event_trace_ids),
            **({} if self.trace_url is None else {"trace_url": self.trace_url}),
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
            trace_id=data.get("trace_id"),
            event_trace_ids=tuple(data.get("event_trace_ids") or ()),
            trace_url=data.get("trace_url"),
        )


# orjson escapes C0 controls; these it writes as they are.
_TERMINAL: Final = re.compile("[\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escaped(found: re.Match[str]) -> str:
    return f"\\u{ord(found.group()):04x}"


def _epoch(value: float | str) -> float:
    return parse_rfc3339(value) if isinstance(value, str) else float(value)
