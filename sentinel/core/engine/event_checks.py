"""Whether one event may advance rollouts: its writer schema, its reader schema, and whether its
type was reported unregistered (contract sections 2 and 10), with what that needs remembered."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sentinel.core.engine.finding_factory import event_finding, schema_violation
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.limits import DEFAULT_LIMITS, Limits
from sentinel.core.engine.ports import EngineObserver, SchemaCheck
from sentinel.core.engine.tracing import parse_traceparent
from sentinel.core.engine.writer_schemas import Writer, WriterIds, check_writer
from sentinel.core.events.envelope import Envelope
from sentinel.core.rules.expectations import Expectation


class EventChecks:
    """The engine's first look at each event, before any rollout sees it."""

    def __init__(
        self,
        schemas: SchemaCheck,
        observer: EngineObserver,
        limits: Limits = DEFAULT_LIMITS,
        read_context: bool = True,
    ) -> None:
        self.schemas = schemas
        self.observer = observer
        # Events read since the observer was last told, per (type, outcome): told once per
        # batch (`tell_reads`); a call per event into the metrics (Python) cost about 1 us.
        self.reads: dict[tuple[str, str], int] = {}
        self.limits = limits
        self.read_context = read_context
        # Whether the bound on unknown types was said to bite since the engine last pruned.
        self.full_told = False
        # Types reported `unregistered_event` (once per type, ever: kept in the state).
        self.unregistered_types: set[str] = set()
        self.new_unregistered: list[str] = []  # reported since the store last asked
        # Types no expectation names and no schema describes, already reported unregistered:
        # a decoder that can read a record's type without its value passes these over.
        self.skippable: set[str] = set()
        self.writer_ids = WriterIds()

    def restore_unregistered(
        self, types: Iterable[str], watched: Mapping[str, Sequence[Expectation]]
    ) -> None:
        """The types reported unregistered before a restart, passed over as they were."""
        self.unregistered_types.update(types)
        self.pass_over_known(watched)

    def pass_over_known(self, watched: Mapping[str, Sequence[Expectation]]) -> None:
        """Pass over, from now on, every type reported unregistered that no expectation in
        `watched` names and no schema describes: what the decode of its first record did, so
        that the same records are skimmed after a restart or a reload as without one (a
        skimmed event is not remembered as seen, a decoded one is)."""
        self.skippable = {
            event_type
            for event_type in self.unregistered_types
            # No schema: `check` says None whatever the data.
            if not watched.get(event_type) and self.schemas.check(event_type, None) is None
        }

    def passes(
        self,
        item: Envelope,
        interested: Sequence[Expectation],
        only: str | None,
        primary: bool,
        writer: Writer | None,
        clock: float,
        findings: list[Finding],
    ) -> bool:
        """Whether `item` may advance the expectations `interested` in its type; what it says
        about itself goes to `findings` (from the `primary` copy of an event only)."""
        if primary and self.read_context:
            self._count_contexts(item)
        if writer is not None:
            checked = check_writer(
                item, writer, primary, interested, self.writer_ids, clock, self.limits
            )
            findings += checked.findings
            if not checked.passed:
                if primary:
                    self.read(item.type, "invalid")
                return False
        errors = self.schemas.check(item.type, item.data)
        if errors:
            if primary:
                self.read(item.type, "invalid")
                findings.append(
                    schema_violation(item, errors, interested, clock, limits=self.limits)
                )
            return False
        if primary and errors is None and writer is None:
            self.read(item.type, "unregistered")
            if item.type not in self.unregistered_types:
                if not interested and len(self.unregistered_types) >= self.limits.unknown_types:
                    self._full(item, clock, findings)
                    return True
                self.unregistered_types.add(item.type)
                self.new_unregistered.append(item.type)
                findings.append(event_finding(Kind.UNREGISTERED_EVENT, item, clock))
            if not interested and only is None and item.schema_ref is None:
                self.skippable.add(item.type)
        elif primary:
            self.read(item.type, "valid")
        return True

    def read(self, event_type: str, outcome: str) -> None:
        """One event of `event_type` read, with this outcome (sentinel_events_total)."""
        key = (event_type, outcome)
        self.reads[key] = self.reads.get(key, 0) + 1

    def tell_reads(self) -> None:
        """Tell the observer the events read since the last call (once per batch)."""
        reads, self.reads = self.reads, {}  # taken first: an observer that fails counts none twice
        if reads:
            self.observer.events_read(reads)

    def _count_contexts(self, item: Envelope) -> None:
        """Trace context the event carried, valid or not: an invalid one is ignored (counted),
        never a reason to call the record malformed (contract section 13)."""
        given = item.attributes.get("traceparent")
        for source, raw in (("cloudevents", given), ("w3c", item.hop)):
            if raw is not None:
                valid = parse_traceparent(raw) is not None
                self.observer.trace_context(source, "valid" if valid else "invalid")

    def _full(self, item: Envelope, clock: float, findings: list[Finding]) -> None:
        """One more unknown type than `limits.unknown_types`: counted, not remembered."""
        self.observer.capacity_reached("unknown_types", None)
        if self.full_told:
            return
        self.full_told = True
        bound = f"{self.limits.unknown_types:,}"
        reason = (
            f"{bound} distinct event types were reported unregistered (limits.unknown_types):"
            " new ones are counted under sentinel_events_total, not told one by one"
        )
        findings.append(Finding(Kind.CAPACITY, clock, reason=reason, event_type=item.type))
