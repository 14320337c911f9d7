"""Every finding kind described once: its scope, good or problem, the words people read (title,
sentence, digest nouns, board symbol) and its Alertmanager name, so that every sink, the board,
the report and replay's text say the same. A new kind is a `Kind` value and a `KINDS` entry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal

from sentinel.core.durations import format_duration


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
    # A person called the rollout off from the board (contract section 14): it closes.
    ABANDONED = "abandoned"


class Scope(StrEnum):
    """What a finding is about: it decides how alerts group it and where replay lists it."""

    ROLLOUT = "rollout"  # one rollout of one expectation
    EVENT = "event"  # one event (or one event type) on the bus
    BUS = "bus"  # the bus, or the sentinel reading it, as a whole


# An RFC 3339 time of the finding's JSON as the reader wants it (a zone, a short clock).
TimeText = Callable[[str], str]
Sentence = Callable[[Mapping[str, Any], TimeText], str]
Severity = Literal["critical", "warning", "info"]

# The finding's fields its id is made of (`Finding.id`); "at" is its time in RFC 3339.
ROLLOUT_ID: Final = ("expectation", "rollout", "step")
EVENT_ID: Final = ("expectation", "event_source", "event_id", "reason")


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One kind, for people and for the machines that page them."""

    kind: Kind
    scope: Scope
    good: bool
    # `Stall`: a message's or a badge's name for one finding of the kind.
    title: str
    # The finding in one sentence, without its kind, time or rollout (each reader shows those).
    sentence: Sentence
    # (one, several): `1 schema violation`, `3 schema violations` in digests and summaries.
    nouns: tuple[str, str]
    # The board's mark beside the title: never colour alone.
    symbol: str
    identity: tuple[str, ...]
    alertname: str = ""  # problems only: good news resolves alerts, it fires none
    severity: Severity = "warning"
    closes: bool = False  # the rollout's last finding (it carries `duration_s`)

    @property
    def per_type(self) -> bool:
        """One finding per event type (not per event): a digest names the types it counts."""
        return self.identity == ("event_type",)


def utc_clock(time: str) -> str:
    """HH:MM:SS of a time as the finding's JSON writes it (UTC)."""
    return time[11:19]


def sentence(finding: Mapping[str, Any], time: TimeText = utc_clock) -> str:
    """The finding's JSON in one sentence; a kind this version does not know (a newer peer's)
    says its reason or event type."""
    spec = spec_of(finding.get("kind"))
    if spec is None:
        return str(finding.get("reason") or finding.get("event_type") or "")
    return spec.sentence(finding, time)


def spec_of(kind: object) -> KindSpec | None:
    """The description of a kind given as its JSON string (or `Kind`), None when unknown."""
    try:
        return KINDS[Kind(str(kind))]
    except ValueError:
        return None


def _event(f: Mapping[str, Any]) -> str:
    """`OrderPlaced e9 from /shop`: the event a finding is about, as the sentences name it."""
    named = f"{f.get('event_type') or 'event'} {f.get('event_id') or '(no id)'}"
    source = f.get("event_source")
    return f"{named} from {source}" if source else named


def _took(f: Mapping[str, Any]) -> str:
    seconds = f.get("duration_s")
    return "" if seconds is None else f"; took {format_duration(float(seconds))}"


def _stall(f: Mapping[str, Any], time: TimeText) -> str:
    due = f.get("deadline")
    return f"{f.get('step')} {f'expected by {time(due)}' if due else 'overdue'}; nothing seen"


def _recovered(f: Mapping[str, Any], time: TimeText) -> str:
    return f"{f.get('step')} arrived after its stall"


def _out_of_order(f: Mapping[str, Any], time: TimeText) -> str:
    missing = ", ".join(f.get("missing") or ()) or "its prerequisites"
    return f"{f.get('step')} seen before {missing}"


def _deadline_exceeded(f: Mapping[str, Any], time: TimeText) -> str:
    due = f.get("deadline")
    return f"not complete by its deadline{f' at {time(due)}' if due else ''}"


def _completed(f: Mapping[str, Any], time: TimeText) -> str:
    return f"every step seen{_took(f)}"


def _abandoned(f: Mapping[str, Any], time: TimeText) -> str:
    # `reason` says who called it off and why: "called off by ana on the board: <note>".
    return f"{f.get('reason') or 'called off by a person'}{_took(f)}"


def _rollback(f: Mapping[str, Any], time: TimeText) -> str:
    return f"{f.get('event_type') or f.get('step') or 'an event'} started a rollback"


def _rolled_back(f: Mapping[str, Any], time: TimeText) -> str:
    return f"compensation seen{_took(f)}"


_AGAINST: Final = {"writer": "the schema it was written with", "reader": "its consumers' schema"}


def _schema_violation(f: Mapping[str, Any], time: TimeText) -> str:
    errors = f.get("errors") or ()
    first = errors[0] if errors else "no details"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    schema = _AGAINST.get(f.get("against") or "", "its schema")
    return f"{_event(f)} fails {schema}: {first}{more}"


def _unregistered_event(f: Mapping[str, Any], time: TimeText) -> str:
    return f"events of type {f.get('event_type')} have no schema; they are not validated"


def _uncorrelated(f: Mapping[str, Any], time: TimeText) -> str:
    why = f": {f['reason']}" if f.get("reason") else ""
    return f"{_event(f)} has no rollout key for {f.get('expectation')}{why}"


def _malformed(f: Mapping[str, Any], time: TimeText) -> str:
    source = f" from {f['event_source']}" if f.get("event_source") else ""
    return f"a record{source} could not be read: {f.get('reason') or 'no reason given'}"


def _bus_silent(f: Mapping[str, Any], time: TimeText) -> str:
    return str(f.get("reason") or "no record has arrived on the bus for longer than allowed")


def _schema_changed(f: Mapping[str, Any], time: TimeText) -> str:
    named = f" ({f['subject']} version {f.get('version')})" if f.get("subject") else ""
    source = f" by {f['event_source']}" if f.get("event_source") else ""
    return (
        f"{f.get('event_type')} is now written{source} with schema {f.get('schema_id')}{named},"
        f" not {f.get('previous_schema_id')}: check that its consumers can read it"
    )


def _schema_not_found(f: Mapping[str, Any], time: TimeText) -> str:
    why = f.get("reason") or "the registry does not have it"
    return f"{_event(f)} names schema {f.get('schema_id')}: {why}; it advanced nothing"


def _capacity(f: Mapping[str, Any], time: TimeText) -> str:
    return str(f.get("reason") or "a bound of limits: was reached")


KINDS: Final[Mapping[Kind, KindSpec]] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            Kind.STALL, Scope.ROLLOUT, False, "Stall", _stall, ("stall", "stalls"), "⚠",
            ROLLOUT_ID, "RolloutStalled", "critical",
        ),
        KindSpec(
            Kind.RECOVERED, Scope.ROLLOUT, True, "Recovered", _recovered,
            ("recovery", "recoveries"), "✓", ROLLOUT_ID, severity="info",
        ),
        KindSpec(
            Kind.OUT_OF_ORDER, Scope.ROLLOUT, False, "Out of order", _out_of_order,
            ("step out of order", "steps out of order"), "⚠", ROLLOUT_ID,
            "RolloutStepOutOfOrder",
        ),
        KindSpec(
            Kind.DEADLINE_EXCEEDED, Scope.ROLLOUT, False, "Deadline exceeded",
            _deadline_exceeded, ("deadline exceeded", "deadlines exceeded"), "⏱", ROLLOUT_ID,
            "RolloutDeadlineExceeded", "critical",
        ),
        KindSpec(
            Kind.COMPLETED, Scope.ROLLOUT, True, "Completed", _completed,
            ("completed rollout", "completed rollouts"), "✓", ROLLOUT_ID, severity="info",
            closes=True,
        ),
        # Good news like completed: a person called it off; resolves what its problems fired.
        KindSpec(
            Kind.ABANDONED, Scope.ROLLOUT, True, "Abandoned", _abandoned,
            ("abandoned rollout", "abandoned rollouts"), "⊘", ROLLOUT_ID, severity="info",
            closes=True,
        ),
        KindSpec(
            Kind.ROLLBACK, Scope.ROLLOUT, False, "Rollback", _rollback,
            ("rollback", "rollbacks"), "↺", ROLLOUT_ID, "RolloutRollingBack",
        ),
        KindSpec(
            Kind.ROLLED_BACK, Scope.ROLLOUT, True, "Rolled back", _rolled_back,
            ("rolled-back rollout", "rolled-back rollouts"), "↩", ROLLOUT_ID, severity="info",
            closes=True,
        ),
        KindSpec(
            Kind.SCHEMA_VIOLATION, Scope.EVENT, False, "Schema violation", _schema_violation,
            ("schema violation", "schema violations"), "⚠", EVENT_ID, "EventSchemaViolation",
        ),
        KindSpec(
            Kind.UNREGISTERED_EVENT, Scope.EVENT, False, "Unregistered event type",
            _unregistered_event, ("new unknown event type", "new unknown event types"), "⚠",
            ("event_type",), "EventTypeUnregistered",
        ),
        KindSpec(
            Kind.UNCORRELATED, Scope.EVENT, False, "Uncorrelated event", _uncorrelated,
            ("event without a correlation key", "events without a correlation key"), "⚠",
            EVENT_ID, "EventUncorrelated",
        ),
        KindSpec(
            Kind.MALFORMED, Scope.EVENT, False, "Malformed record", _malformed,
            ("malformed record", "malformed records"), "⚠", EVENT_ID, "EventMalformed",
        ),
        KindSpec(
            Kind.BUS_SILENT, Scope.BUS, False, "Bus silent", _bus_silent,
            ("bus silence", "bus silences"), "⚠", ("at",), "EventBusSilent", "critical",
        ),
        KindSpec(
            Kind.SCHEMA_CHANGED, Scope.EVENT, False, "Schema changed", _schema_changed,
            ("schema change", "schema changes"), "⚠", ("event_type", "schema_id"),
            "EventSchemaChanged",
        ),
        KindSpec(
            Kind.SCHEMA_NOT_FOUND, Scope.EVENT, False, "Schema not found", _schema_not_found,
            ("event naming a schema the registry lacks",
             "events naming a schema the registry lacks"), "⚠", EVENT_ID, "EventSchemaNotFound",
        ),
        # Once per bound (and expectation), not per refused event.
        KindSpec(
            Kind.CAPACITY, Scope.BUS, False, "Capacity reached", _capacity,
            ("bound of limits: reached", "bounds of limits: reached"), "⚠",
            ("expectation", "reason"), "SentinelCapacityReached",
        ),
    )
}  # fmt: skip

GOOD_KINDS: Final = frozenset(kind for kind, spec in KINDS.items() if spec.good)
# Kinds about one rollout (the rest are about one event, or the bus).
ROLLOUT_KINDS: Final = frozenset(
    kind for kind, spec in KINDS.items() if spec.scope is Scope.ROLLOUT
)
