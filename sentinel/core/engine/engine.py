"""The engine: a pure state machine that turns events and the passing of time into findings.

It is the heart of the sentinel and the place to start reading. Two calls drive it:

    engine.apply(item, now)   # one event (or malformed record) -> findings
    engine.advance(now)       # the clock moved -> findings of every deadline passed

`now` is always passed in: the engine never reads a clock and does no I/O, so replay, the
live watcher and the tests drive the same code. Deadlines sit in a heap of
`(due, expectation, rollout, step)`; an entry is checked against the rollout when it is popped,
so cancelling or moving a deadline is just a change to the rollout (lazy deletion; see
`deadlines.py`). The order of the heap key makes findings at equal times come out in one order,
whatever order the events arrived in. Semantics: contract section 4.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any, Final

from sentinel.core.engine.capacity import OpenCount
from sentinel.core.engine.deadlines import (
    ROLLOUT_DEADLINE,
    DeadlineHeap,
    Entry,
    Parked,
    entries_of,
    live_rollout,
    pending,
)
from sentinel.core.engine.event_checks import EventChecks
from sentinel.core.engine.finding_factory import rollout_finding, uncorrelated
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.limits import DEFAULT_LIMITS, Limits
from sentinel.core.engine.ports import (
    EngineChanges,
    EngineObserver,
    NoSchemas,
    NullObserver,
    SchemaCheck,
)
from sentinel.core.engine.retention import forget_before
from sentinel.core.engine.rollout import RolloutState, active_compensation, count_event, view_of
from sentinel.core.engine.snapshots import Phase, RolloutView
from sentinel.core.engine.tracing import DEFAULT_TRACING, TraceOptions
from sentinel.core.engine.watermarks import Watermarks
from sentinel.core.engine.writer_schemas import Writer, WriterMemory
from sentinel.core.events.envelope import Envelope, Malformed, Skipped, correlation_key
from sentinel.core.events.records import Partition
from sentinel.core.rules.expectations import Compensation, Expectation, Step, index_by_type

DEFAULT_RETENTION_S: Final = 24 * 3600.0
# Forgetting old rollouts and event ids is batched: once per minute of clock time is plenty.
PRUNE_EVERY_S: Final = 60.0


class Engine:
    """Rollouts of every expectation, their deadlines, and what was already said."""

    def __init__(
        self,
        expectations: Sequence[Expectation],
        schemas: SchemaCheck | None = None,
        observer: EngineObserver | None = None,
        retention_s: float = DEFAULT_RETENTION_S,
        limits: Limits = DEFAULT_LIMITS,
        tracing: TraceOptions = DEFAULT_TRACING,
    ) -> None:
        self.expectations = {exp.name: exp for exp in expectations}
        self.observer: EngineObserver = observer if observer is not None else NullObserver()
        checked = schemas if schemas is not None else NoSchemas()
        self.checks = EventChecks(checked, self.observer, limits, tracing.context)
        self.tracing = tracing
        self.limits = limits
        self.open_count = OpenCount(limits)
        self.retention_s = retention_s
        self.clock = -math.inf
        self.rollouts: dict[str, dict[str, RolloutState]] = {name: {} for name in self.expectations}
        self.deadlines = DeadlineHeap()
        # (source, id) -> clock when first read; insertion order is clock order (pruning).
        self.seen_events: dict[tuple[str, str], float] = {}
        self._closed: deque[tuple[float, str, str]] = deque()
        self._next_prune = -math.inf
        # What the engine last forgot below: a store may forget the same, not more.
        self._pruned_horizon = -math.inf
        # Due deadlines waiting for a lagging feed or its watermark (see `advance`).
        self._parked = Parked()
        # What changed since the last `take_changes()`: what a state store must write.
        self.changed: set[tuple[str, str]] = set()
        self._new_events: list[tuple[str, str, float]] = []
        self._steps_seen: list[tuple[str, str, str]] = []
        self._forgotten: list[tuple[Expectation, RolloutState, float]] = []
        self._by_type = index_by_type(expectations)

    # ---- the two entry points -------------------------------------------------------------

    def apply(
        self,
        item: Envelope | Malformed | Skipped,
        now: float,
        feed: Partition | None = None,
        only: str | None = None,
        primary: bool = True,
        writer: Writer | None = None,
    ) -> list[Finding]:
        """Take one event read at `now` (an event without `time` happened at `now`).

        With `only`, the event advances that expectation alone (one of several copies of an
        event, each for one expectation); `primary=False` keeps a copy from saying anything
        about the event itself (schema, registration, correlation): another copy does.
        `writer` is the schema a registry says the event was written with (section 10).
        """
        self.clock = max(self.clock, now)
        if isinstance(item, Skipped):
            self.checks.read(item.type, "unregistered")
            return []
        if isinstance(item, Malformed):
            self.checks.read("", "malformed")
            return [
                Finding(Kind.MALFORMED, self.clock, reason=item.reason, event_source=item.origin)
            ]
        if item.id is not None:
            # Copies of one event for different expectations are different deliveries.
            event_id = item.id if only is None else f"{item.id}\x1f{only}"
            identity = (item.source or "", event_id)
            if identity in self.seen_events:
                if primary:
                    self.checks.read(item.type, "duplicate")
                return []
            self.seen_events[identity] = self.clock
            self._new_events.append((*identity, self.clock))
        findings: list[Finding] = []
        interested = self._by_type.get(item.type, ())
        if not self.checks.passes(item, interested, only, primary, writer, self.clock, findings):
            return findings
        at = item.time if item.time is not None else now
        for exp in interested:
            key = correlation_key(item.lookup(exp.correlate_path))
            if key is None:
                if primary:
                    findings.append(uncorrelated(exp, item, self.clock))
            elif only is None or only == exp.name:
                self._route(exp, key, item, at, feed, findings)
        return findings

    def advance(
        self,
        now: float,
        held_feeds: Collection[Partition] = (),
        marks: Watermarks | None = None,
    ) -> list[Finding]:
        """Move the clock to `now`: every deadline strictly before it fires, in heap order.

        Deadlines of rollouts fed by a feed in `held_feeds` (a lagging partition) wait; with
        `marks` (live), so does every deadline that a record still unread could meet (no
        earlier than the watermark of each partition that can feed its rollout).
        """
        self.clock = max(self.clock, now)
        heap = self.deadlines
        before = now
        if marks is not None and marks.shared:
            before = min(now, marks.floor)
        if heap.next_due >= before and not self._parked and self.clock < self._next_prune:
            return []  # nothing due: the common case, once per record
        findings: list[Finding] = []
        if self._parked:
            self._parked.release(held_feeds, marks, heap, now)
        per_rollout = marks is not None and not marks.shared
        while heap.next_due < before:
            entry = heap.pop()
            rollout = live_rollout(self.rollouts, entry)
            if rollout is None:
                heap.popped_stale()
                continue  # cancelled, moved or met since it was scheduled
            due, name, key, step = entry
            if held_feeds:
                lagging = next((feed for feed in rollout.feeds if feed in held_feeds), None)
                if lagging is not None:
                    # Parked till its feed catches up, not popped per batch of a catch-up.
                    self._parked.park(lagging, entry)
                    continue
            if per_rollout and marks is not None and due >= marks.limit(rollout.feeds):
                self._parked.park(marks.slowest(rollout.feeds), entry)
                continue
            self.changed.add((name, key))
            if step == ROLLOUT_DEADLINE:
                rollout.deadline_at = None
                findings.append(
                    self._rollout_finding(Kind.DEADLINE_EXCEEDED, rollout, None, deadline=due)
                )
            else:
                del rollout.due[step]
                rollout.stalled = (*rollout.stalled, step)
                findings.append(self._rollout_finding(Kind.STALL, rollout, step, deadline=due))
        if self.clock >= self._next_prune:
            self._prune()
            self._next_prune = self.clock + PRUNE_EVERY_S
        return findings

    # ---- reading the state ----------------------------------------------------------------

    def view(self, expectation: str, key: str) -> RolloutView | None:
        """A snapshot of one rollout for people, or None when it is unknown."""
        exp = self.expectations.get(expectation)
        rollout = self.rollouts.get(expectation, {}).get(key)
        return None if exp is None or rollout is None else view_of(exp, rollout)

    @property
    def pending_deadlines(self) -> int:
        """Deadlines waiting to fire (some may be stale until popped)."""
        return len(self.deadlines) + len(self._parked)

    def take_changes(self) -> EngineChanges:
        """What changed since the last call, for a state store; resets the record."""
        changed = {(name, key): self.rollouts.get(name, {}).get(key) for name, key in self.changed}
        events, self._new_events = self._new_events, []
        steps, self._steps_seen = self._steps_seen, []
        lost, self._forgotten = self._forgotten, []
        checks = self.checks
        unknown, checks.new_unregistered = checks.new_unregistered, []
        self.changed = set()
        writers, horizon = checks.writer_ids.take_changed(), self._pruned_horizon
        return EngineChanges(changed, events, unknown, self.clock, horizon, writers, steps, lost)

    def restore(
        self,
        rollouts: Iterable[RolloutState],
        seen_events: Iterable[tuple[str, str, float]],
        clock: float,
        unregistered_types: Iterable[str] = (),
        writer_ids: Mapping[str, WriterMemory] | None = None,
    ) -> None:
        """Rebuild from stored state: deadlines are recomputed from the rollouts themselves."""
        self.clock = max(self.clock, clock)
        entries: list[Entry] = []
        for rollout in rollouts:
            held = self.rollouts.get(rollout.expectation)
            # Not its expectation any more (removed while the sentinel was down), or held
            # already (a partition assigned again to the replica that restored it at start).
            if held is None or rollout.key in held:
                continue
            held[rollout.key] = rollout
            entries += entries_of(rollout)
            if rollout.closed_at is not None:
                self._closed.append((rollout.closed_at, rollout.expectation, rollout.key))
        self.deadlines.extend(entries, self.clock)
        self.open_count.recount(self.rollouts)
        self._closed = deque(sorted(self._closed))
        for source, event_id, at in sorted(seen_events, key=lambda row: row[2]):
            self.seen_events[(source, event_id)] = at
        self.checks.restore_unregistered(unregistered_types, self._by_type)
        self.checks.writer_ids.restore(writer_ids or {})

    def forget_feeds(self, feeds: Collection[Partition]) -> int:
        """Drop the rollouts that live in `feeds` (partitions now owned by another replica) and
        say how many; nothing is recorded as changed: the store keeps them for their owner."""
        dropped = stale = 0
        for name, by_key in self.rollouts.items():
            for key in [k for k, r in by_key.items() if r.home in feeds]:
                stale += pending(by_key.pop(key))
                self.changed.discard((name, key))
                dropped += 1
        self._parked.forget(feeds)
        self.deadlines.cancelled(stale, self.rollouts)
        self.open_count.recount(self.rollouts)
        return dropped

    def reload(self, expectations: Sequence[Expectation], schemas: SchemaCheck) -> None:
        """Swap in a new set of expectations and schemas; open rollouts keep their state.

        Rollouts of an expectation that is gone are dropped; pending deadlines keep the
        windows they were scheduled with.
        """
        names = {exp.name for exp in expectations}
        stale = 0
        for name in list(self.rollouts):
            if name not in names:
                dropped = self.rollouts.pop(name)
                self.changed.update((name, key) for key in dropped)
                stale += sum(pending(rollout) for rollout in dropped.values())
                exp, at = self.expectations[name], self.clock  # the open ones' traces end
                self._forgotten += [(exp, r, at) for r in dropped.values() if r.closed_at is None]
        self.deadlines.cancelled(stale, self.rollouts)
        self.open_count.recount(self.rollouts)
        self.expectations = {exp.name: exp for exp in expectations}
        for name in self.expectations:
            self.rollouts.setdefault(name, {})
        self.checks.schemas = schemas
        self._by_type = index_by_type(expectations)
        self.checks.pass_over_known(self._by_type)  # a type may be named or described now

    def open_rollouts(self) -> Iterable[RolloutState]:
        for by_key in self.rollouts.values():
            for rollout in by_key.values():
                if rollout.phase in (Phase.OPEN, Phase.ROLLING_BACK):
                    yield rollout

    # ---- how one event changes one rollout ------------------------------------------------

    def _route(
        self,
        exp: Expectation,
        key: str,
        event: Envelope,
        at: float,
        feed: Partition | None,
        findings: list[Finding],
    ) -> None:
        rollout = self.rollouts[exp.name].get(key)
        if rollout is None:
            if self.open_count.refuses(exp.name, event, self.clock, self.observer, findings):
                return
            rollout = self._open(exp, key, at)
        elif rollout.closed_at is not None:
            return  # late or repeated: a closed rollout stays closed
        self.changed.add((exp.name, key))
        if feed is not None and feed not in rollout.feeds:
            rollout.feeds = (*rollout.feeds, feed)
        if rollout.phase is Phase.ROLLING_BACK:
            self._during_rollback(exp, rollout, event, at, findings)
            return
        trigger = exp.by_trigger.get(event.type)
        if trigger is not None:
            self._start_rollback(exp, rollout, trigger, event, at, findings)
            return
        step = exp.step_index.get(event.type)
        if step is not None:
            self._see_step(exp, rollout, step, event, at, findings)
            return
        # The compensation's `expect` before any trigger: remember it, and say it is odd.
        if event.type not in rollout.seen:
            rollout.seen[event.type] = at
            self._count(rollout, event.type, event)
            comp = exp.by_expect.get(event.type)
            missing = (comp.trigger,) if comp is not None else ()
            findings.append(
                self._rollout_finding(
                    Kind.OUT_OF_ORDER, rollout, event.type, missing=missing, event=event
                )
            )

    def _open(self, exp: Expectation, key: str, at: float) -> RolloutState:
        rollout = RolloutState(exp.name, key, at, remaining=len(exp.steps))
        self.rollouts[exp.name][key] = rollout
        for root in exp.roots:
            if root.within is not None:
                self._schedule(rollout, root.event, at + root.within)
        if exp.deadline is not None:
            rollout.deadline_at = at + exp.deadline
            entry = (rollout.deadline_at, exp.name, key, ROLLOUT_DEADLINE)
            self.deadlines.push(entry, self.clock)
        self.observer.rollout_opened(exp.name)
        self.open_count.opened(exp.name)
        return rollout

    def _see_step(
        self,
        exp: Expectation,
        rollout: RolloutState,
        step: Step,
        event: Envelope,
        at: float,
        findings: list[Finding],
    ) -> None:
        # The hot path of the whole sentinel: loops instead of generator expressions.
        name = step.event
        seen = rollout.seen
        if name in seen:
            return  # a step seen a second time changes nothing
        seen[name] = at
        self._count(rollout, name, event)
        if rollout.due and rollout.due.pop(name, None) is not None:
            self.deadlines.cancelled(1, self.rollouts)
        window_start = rollout.opened_at
        missing: tuple[str, ...] = ()
        if step.after:
            window_start = -math.inf
            for prereq in step.after:
                prereq_at = seen.get(prereq)
                if prereq_at is None:
                    missing += (prereq,)
                elif prereq_at > window_start:
                    window_start = prereq_at
        if missing:
            findings.append(
                self._rollout_finding(Kind.OUT_OF_ORDER, rollout, name, missing=missing)
            )
        else:
            self.observer.step_seen(rollout, name, max(0.0, at - window_start))
        if name in rollout.stalled:
            findings.append(self._rollout_finding(Kind.RECOVERED, rollout, name))
        for dependent in exp.dependent_steps[name]:
            if dependent.within is None or dependent.event in seen:
                continue
            start = -math.inf
            for prereq in dependent.after:
                prereq_at = seen.get(prereq)
                if prereq_at is None:
                    break
                start = max(start, prereq_at)
            else:
                self._schedule(rollout, dependent.event, start + dependent.within)
        rollout.remaining -= 1
        if rollout.remaining == 0:
            last = max(seen[s.event] for s in exp.steps)
            duration = max(0.0, last - rollout.opened_at)
            self.close(rollout, Phase.COMPLETED, duration)
            findings.append(
                self._rollout_finding(Kind.COMPLETED, rollout, None, duration_s=duration)
            )

    def _start_rollback(
        self,
        exp: Expectation,
        rollout: RolloutState,
        comp: Compensation,
        event: Envelope,
        at: float,
        findings: list[Finding],
    ) -> None:
        rollout.phase = Phase.ROLLING_BACK
        rollout.rollback = comp.trigger
        rollout.seen[comp.trigger] = at
        self._count(rollout, comp.trigger, event)
        self._cancel_all(rollout)  # every pending step deadline, and the rollout's
        findings.append(self._rollout_finding(Kind.ROLLBACK, rollout, None, event=event))
        if comp.expect in rollout.seen:
            self._finish_rollback(rollout, rollout.seen[comp.expect], findings)
        elif comp.within is not None:
            self._schedule(rollout, comp.expect, at + comp.within)

    def _during_rollback(
        self,
        exp: Expectation,
        rollout: RolloutState,
        event: Envelope,
        at: float,
        findings: list[Finding],
    ) -> None:
        comp = active_compensation(exp, rollout)
        if event.type != comp.expect or comp.expect in rollout.seen:
            return  # only the compensation's `expect` matters now
        rollout.seen[comp.expect] = at
        self._count(rollout, comp.expect, event)
        if rollout.due.pop(comp.expect, None) is not None:
            self.deadlines.cancelled(1, self.rollouts)
        if comp.expect in rollout.stalled:
            findings.append(self._rollout_finding(Kind.RECOVERED, rollout, comp.expect))
        self._finish_rollback(rollout, at, findings)

    def _finish_rollback(self, rollout: RolloutState, at: float, findings: list[Finding]) -> None:
        duration = max(0.0, at - rollout.opened_at)
        self.close(rollout, Phase.ROLLED_BACK, duration)
        findings.append(self._rollout_finding(Kind.ROLLED_BACK, rollout, None, duration_s=duration))

    def _count(self, rollout: RolloutState, step: str, event: Envelope) -> None:
        count_event(rollout, step, event, self.tracing.context)
        self._steps_seen.append((rollout.expectation, rollout.key, step))

    def _schedule(self, rollout: RolloutState, step: str, due: float) -> None:
        if rollout.due.get(step) is not None:
            self.deadlines.cancelled(1, self.rollouts)  # moved: the old entry is stale
        rollout.due[step] = due
        self.deadlines.push((due, rollout.expectation, rollout.key, step), self.clock)

    def _cancel_all(self, rollout: RolloutState) -> None:
        stale = pending(rollout)
        rollout.due.clear()
        rollout.deadline_at = None
        if stale:
            self.deadlines.cancelled(stale, self.rollouts)

    def close(self, rollout: RolloutState, phase: Phase, duration: float) -> None:
        """`rollout` closes now: nothing more is awaited (also how `acting.py` abandons)."""
        self._cancel_all(rollout)
        rollout.phase = phase
        rollout.closed_at = self.clock
        self.open_count.closed(rollout.expectation)
        self._closed.append((self.clock, rollout.expectation, rollout.key))
        outcome = str(phase)  # completed, rolled_back or abandoned
        self.observer.rollout_closed(rollout, outcome, duration)

    def _prune(self) -> None:
        """Forget closed rollouts and event ids older than the retention (in clock time)."""
        horizon = self._pruned_horizon = self.clock - self.retention_s
        self.open_count.told.clear()
        self.checks.full_told = False
        while self._closed and self._closed[0][0] < horizon:
            _, name, key = self._closed.popleft()
            if self.rollouts.get(name, {}).pop(key, None) is not None:
                self.changed.add((name, key))
        forget_before(self.seen_events, horizon)

    def _rollout_finding(
        self, kind: Kind, rollout: RolloutState, step: str | None, **fields: Any
    ) -> Finding:
        exp = self.expectations[rollout.expectation]
        return rollout_finding(kind, exp, rollout, step, self.clock, self.tracing.url, **fields)
