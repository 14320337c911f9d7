"""The one batch pipeline: every record, live or replayed, goes from bytes to kept effects here.

The live watcher, `sentinel replay`, the crash property tests and the benchmarks all call
`Pipeline.process`; no other loop applies records to the engine. Synchronous and free of
Kafka: the watcher's async shell fetches, and commits what `process` says it may.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Protocol

from sentinel.core.engine.acting import act
from sentinel.core.engine.actions import Action, ActionRefused, Outcome, Requested
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.ports import EngineChanges
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.snapshots import RolloutView
from sentinel.core.engine.spans import Span, batch_spans
from sentinel.core.engine.watermarks import Answer, Watermarks
from sentinel.core.engine.writer_schemas import Need, Writer, WriterLookup
from sentinel.core.events.envelope import Envelope, Malformed, Skipped
from sentinel.core.events.records import Partition, Record
from sentinel.core.ports.store import StateStore, StoredState


class Decoder(Protocol):
    """Step 1: a record's bytes to an envelope (or a malformed record with its reason)."""

    def skim(self, record: Record, skip: Collection[str]) -> Skipped | None:
        """The record passed over unread when its type, told outside its value, is in `skip`;
        None when it must be decoded."""
        ...

    def decode(self, record: Record) -> Envelope | Malformed: ...


class Clock(Protocol):
    """The clock a batch is read on: the wall clock live, event time in replay."""

    def at(self, record: Record, item: Item) -> float:
        """The clock when `record` (decoded as `item`) is read; an event without `time`
        happened then."""
        ...

    @property
    def now(self) -> float:
        """The clock at the end of the batch."""
        ...


class Alerts(Protocol):
    """What the pipeline tells alerting, inside the store's transaction (the outbox joins it)."""

    def accept(
        self,
        findings: Sequence[Finding],
        view: Callable[[str, str], RolloutView | None],
        now: float,
    ) -> None: ...

    def flush_due(self, now: float) -> None: ...

    def acted(self, applied: Sequence[tuple[Action, RolloutView]], now: float) -> None:
        """On-call actions just applied, each with its rollout's view after it (contract
        section 14): what the sinks say of them (Slack's parent message updated, PagerDuty's
        `acknowledge`) joins the outbox in the batch's transaction."""
        ...


class Spans(Protocol):
    """Where a batch's spans go (`tracing.otlp`, contract section 13), inside the store's
    transaction like alerts: the outbox joins it, so a span is kept with the state it shows."""

    def export(self, spans: Sequence[Span]) -> None: ...


class Output(Protocol):
    """Where new findings are written (standard output, live), inside the store's transaction
    just before it commits: a crash between the two writes them again after the restart, with
    the same ids, and never loses them (a pipe cannot join the transaction, so at least once)."""

    def write_findings(self, findings: Sequence[Finding]) -> None: ...


class PipelineObserver(Protocol):
    """Told once per kept batch; metrics and the status board's live feed implement it."""

    def batch_kept(
        self,
        records: int,
        findings: Sequence[Finding],
        skews: Sequence[float],
        changed: Collection[tuple[str, str]],
    ) -> None:
        """`skews`: broker timestamp minus event time, for each timed record that has both;
        `changed`: the (expectation, key) of every rollout the batch changed or forgot."""
        ...


Route = Callable[[Record], tuple[str | None, bool]]
Item = Envelope | Malformed | Skipped
_NEVER: Final = float("-inf")


class WallClock:
    """Live: every record of a batch is read at the wall-clock time the batch was fetched."""

    def __init__(self, now: float) -> None:
        self._now = now

    def at(self, record: Record, item: Item) -> float:
        return self._now

    @property
    def now(self) -> float:
        return self._now


class EventClock:
    """Replay: the clock is the largest event time read so far (contract section 4)."""

    def __init__(self, read_at: Callable[[], float]) -> None:
        self._read_at = read_at  # the wall clock, for events read before any timed one
        self._clock: float | None = None

    def at(self, record: Record, item: Item) -> float:
        event_time = None if isinstance(item, Malformed) else item.time
        if event_time is None:
            now = self._clock if self._clock is not None else self._read_at()
        else:
            now = event_time if self._clock is None else max(self._clock, event_time)
        self._clock = now
        return now

    @property
    def now(self) -> float:
        return self._clock if self._clock is not None else _NEVER


@dataclass(frozen=True, slots=True)
class Kept:
    """What one batch left to say and to commit, once its effects are kept."""

    findings: list[Finding]  # new findings, in clock order: write them now
    offsets: dict[Partition, int]  # next offset per partition read: commit these to Kafka
    # Partitions stopped at a record whose writer schema must be read from the registry
    # first (the offset to read again from), and what to read.
    waiting: dict[Partition, int] = field(default_factory=dict)
    needs: list[Need] = field(default_factory=list)
    # Each requested action, in the order asked: applied or refused (and why).
    acted: list[Outcome] = field(default_factory=list)


class _NullObserver:
    def batch_kept(
        self,
        records: int,
        findings: Sequence[Finding],
        skews: Sequence[float],
        changed: Collection[tuple[str, str]],
    ) -> None:
        pass


@dataclass
class Pipeline:
    """The engine, the store and alerting, driven one batch at a time in one fixed order."""

    engine: Engine
    store: StateStore
    decoder: Decoder
    alerts: Alerts | None = None
    observer: PipelineObserver = field(default_factory=_NullObserver)
    # Repartitioned input: which expectation a record is a copy for, and whether it is the
    # copy that reports on the event itself (sentinel.kafka.repartition).
    route: Route | None = None
    # Next offset per partition as of the last kept batch: records below it were applied
    # before (read again after a crash or a rebalance) and are skipped.
    positions: dict[Partition, int] = field(default_factory=dict)
    # The largest event time read so far: how far the stream itself has got.
    event_clock: float = _NEVER
    # A schema registry's writer schemas (contract section 10), or None without a registry.
    writers: WriterLookup | None = None
    # Live: how far each partition is known to have got; deadlines wait for them (contract
    # section 4). None in replay, where the stream's own time is the clock.
    watermarks: Watermarks | None = None
    # Told of an unexpected error while processing one record (which is then reported as
    # malformed) or while observing a kept batch: the live watcher logs it with its traceback.
    on_error: Callable[[str, Exception], None] | None = None
    # Spans to export (`tracing.otlp`), or None: then none are even made.
    spans: Spans | None = None
    # Where the new findings are written (the live watcher's standard output), or None: then
    # the caller takes them from `Kept.findings` (replay, tests).
    output: Output | None = None

    def process(
        self,
        records: Sequence[Record],
        clock: Clock,
        held: Collection[Partition] = (),
        extra: Sequence[Finding] = (),
        answers: Mapping[Partition, Answer] | None = None,
        actions: Sequence[Requested] = (),
    ) -> Kept:
        """One batch, in this order (the only place that holds it):

        0. Apply the on-call `actions` asked since the last batch (contract section 14), in
           order, before any record: each is kept with its rollout, or refused with why
           (`Kept.acted`), changing nothing; an `abandon` closes its rollout with its
           `abandoned` finding, which joins the batch's findings.
        1. Decode each record not applied before into an envelope, or a malformed record;
           a record whose type (told in a header) nothing watches and that was reported
           unregistered before is only counted (`engine.checks.skippable`). With a registry, a
           record whose writer schema was never read stops its partition for this batch
           (`Kept.waiting`): the shell reads it, then the records again.
        2. Fire every deadline strictly earlier than the largest event time read so far
           (capped at the clock's reading), so that the deadlines before an event fire before
           it (contract section 4); apply the record at the clock's reading; fire at once a
           deadline it set that is already behind. Deadlines of rollouts fed by a `held`
           (lagging) partition wait; live, so does every deadline not yet behind the
           watermark of each partition that can feed its rollout (`watermarks`).
        3. Advance to the clock at the end of the batch: live, the wall clock fires what the
           stream has not reached (unless held), once the broker's `answers` (read after the
           fetch) showed which partitions this batch brought up to their end; in replay it is
           where the stream is already.
        4. Keep, in one store transaction: the findings not emitted before (with `extra`, the
           shell's own, such as bus silence), the alerts they cause (outbox), the engine's
           changes (with each new finding added to the rollout it names, while that rollout
           is open or closes in this batch), the spans of what the batch finished (steps
           seen or cancelled, new findings, rollouts closed or forgotten: outbox, with
           `tracing.otlp`), the rollouts that closed (their last view and findings, to the
           history) and the next offset of each partition. A failure keeps none of it.
           Last in the transaction, before it commits, the new findings go to `output`: a
           crash after that writes them again (same ids), none is ever kept unwritten.
        5. Return the new findings and the offsets. The caller then waits for `store.flush()`
           (the changelog has the batch), releases the alerts and only then commits the
           offsets to Kafka: a crash at any point reads records again, and the kept finding
           ids (or, after a move, the changelog's offsets) keep it from raising anything twice.
        """
        engine = self.engine
        findings: list[Finding] = []
        taken: dict[Partition, int] = {}
        skews: list[float] = []
        positions = self.positions
        latest = self.event_clock
        waiting: dict[Partition, int] = {}
        needs: list[Need] = []
        writers = self.writers
        marks = self.watermarks
        decoder = self.decoder
        skip = engine.checks.skippable
        acted: list[Outcome] = []
        applied: list[tuple[Action, RolloutView]] = []
        for asked in actions:
            try:
                findings += act(engine, asked.expectation, asked.key, asked.action)
            except ActionRefused as refused:
                acted.append(Outcome(asked, refused))
                continue
            seen = engine.view(asked.expectation, asked.key)
            if seen is not None:
                applied.append((asked.action, seen))
            acted.append(Outcome(asked, None, () if seen is None else seen.actions))
        for record in records:
            partition = record.partition
            position = taken.get(partition, positions.get(partition))
            if (position is not None and record.offset < position) or partition in waiting:
                continue
            try:
                item: Item | None = decoder.skim(record, skip) if skip else None
                if item is None:
                    item = decoder.decode(record)
                writer: Writer | None = None
                if writers is not None and isinstance(item, Envelope):
                    found = writers.writer(item, partition.topic)
                    if isinstance(found, Need):
                        # Not guessed: the record and those after it in its partition wait, and
                        # so do the deadlines of the rollouts it feeds (it may be on time).
                        waiting[partition] = record.offset
                        needs.append(found)
                        held = {*held, partition}
                        continue
                    writer = found
                now = clock.at(record, item)
                event_time = None if isinstance(item, Malformed) else item.time
                if event_time is not None:
                    latest = max(latest, event_time)
                    if marks is not None:
                        marks.read(partition, event_time)
                # Deadlines are in event time: they fire as the stream's own time passes them,
                # never beyond the clock (a producer's clock may run ahead of ours). Live, the
                # watermarks say how far the stream's time has got on every partition.
                passed = now if latest > now or latest == _NEVER or marks is not None else latest
                findings += engine.advance(passed, held, marks)
                only, primary = (None, True) if self.route is None else self.route(record)
                findings += engine.apply(item, now, partition, only, primary, writer)
                if engine.deadlines.next_due < passed:
                    # Set by this record and already behind: due at once, whatever comes next.
                    findings += engine.advance(passed, held, marks)
                if event_time is not None and record.timestamp is not None and primary:
                    skews.append(record.timestamp - event_time)
            except Exception as error:
                # A bug, not the record's fault alone, but the record is what triggers it:
                # reported as that record's finding, and the partition moves on past it.
                findings.append(self._failed(record, error, engine.clock))
            taken[partition] = record.offset + 1
        self.event_clock = latest
        if marks is not None and answers:
            # Only now: a partition is caught up once its records up to the end are applied,
            # and one waiting for the registry has records after the waiting one unapplied.
            marks.answered({p: a for p, a in answers.items() if p not in waiting})
        findings += engine.advance(clock.now, held, marks)
        findings += extra
        with self.store.transaction() as batch:
            fresh = batch.fresh(findings)
            if self.alerts is not None:
                if applied:
                    self.alerts.acted(applied, clock.now)
                if fresh:
                    self.alerts.accept(fresh, engine.view, clock.now)
                self.alerts.flush_due(clock.now)
            changes = _with_findings(
                engine.take_changes(), engine.rollouts, fresh, engine.limits.findings_per_rollout
            )
            if self.spans is not None:
                self.spans.export(batch_spans(changes, fresh, engine.rollouts, engine.expectations))
            batch.write(changes, fresh, taken, engine.expectations.get)
            if fresh and self.output is not None:
                self.output.write_findings(fresh)
        positions.update(taken)
        try:
            engine.checks.tell_reads()
            self.observer.batch_kept(len(records), fresh, skews, changes.rollouts.keys())
        except Exception as error:  # the batch is kept: what watches it must not undo that
            if self.on_error is not None:
                self.on_error("a batch's observers", error)
        return Kept(fresh, taken, waiting, needs, acted)

    def _failed(self, record: Record, error: Exception, clock: float) -> Finding:
        if self.on_error is not None:
            self.on_error(f"record {record.origin}", error)
        reason = f"the sentinel could not process this record ({type(error).__name__}: {error})"
        return Finding(Kind.MALFORMED, clock, reason=reason[:500], event_source=record.origin)

    def restore(self, partitions: Collection[Partition] | None = None) -> StoredState:
        """Fill the engine from the store: everything (None), or the rollouts of `partitions`
        just assigned. Rollouts of expectations no longer loaded are deleted from the store;
        reading resumes at each partition's stored offset (the returned state's `offsets`)."""
        state = self.store.load(partitions)
        engine = self.engine
        engine.restore(
            state.rollouts, state.seen_events, state.clock, state.unregistered_types,
            state.writer_ids,
        )  # fmt: skip
        orphans: dict[tuple[str, str], RolloutState | None] = {
            (rollout.expectation, rollout.key): None
            for rollout in state.rollouts
            if rollout.expectation not in engine.expectations
        }
        if orphans:
            # The engine skipped them; left in the store, they would stay there for ever.
            changes = engine.take_changes()
            changes = replace(changes, rollouts={**changes.rollouts, **orphans})
            with self.store.transaction() as batch:
                batch.write(changes, [], {})
        for partition in partitions if partitions is not None else ():
            self.positions.pop(partition, None)
        self.positions.update(state.offsets)
        return state


def _with_findings(
    changes: EngineChanges,
    rollouts: Mapping[str, Mapping[str, RolloutState]],
    fresh: Sequence[Finding],
    most: int,
) -> EngineChanges:
    """Each new finding kept with the rollout it names too, for its page and the history: a
    rollout the engine holds that is open or closes in this batch (late events of a closed
    rollout leave it as it closed), up to `most` per rollout (the later ones are told, not
    kept). Only what is emitted, so a restart adds nothing twice."""
    touched: dict[tuple[str, str], RolloutState | None] = {}
    for finding in fresh:
        if finding.expectation is None or finding.rollout is None:
            continue
        identity = (finding.expectation, finding.rollout)
        rollout = rollouts.get(finding.expectation, {}).get(finding.rollout)
        if rollout is None or len(rollout.findings) >= most:
            continue
        if rollout.closed_at is None or identity in changes.rollouts:
            rollout.findings = (*rollout.findings, finding)
            touched[identity] = rollout
    return replace(changes, rollouts={**changes.rollouts, **touched}) if touched else changes
