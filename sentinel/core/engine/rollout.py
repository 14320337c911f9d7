"""One rollout: its state as plain data (what the engine changes and a store keeps), and how
it looks to people at a given moment (what alerts, the board and reports show)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from sentinel.core.engine.actions import Action
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.snapshots import Phase, RolloutView, StepState, StepStatus
from sentinel.core.engine.tracing import event_contexts
from sentinel.core.events.envelope import Envelope
from sentinel.core.events.records import Partition
from sentinel.core.rules.expectations import Compensation, Expectation, Step

# A step's trace context: (creation traceparent, last-hop traceparent, where it was read).
Trace = tuple[str | None, str | None, str | None]
NO_TRACE: Final[Trace] = (None, None, None)


# `init=False` and an `__init__` of its own: mypyc compiles that one, not the one `dataclass`
# generates (interpreted); the engine opens one per rollout, a restore 100,000 at a time.
@dataclass(slots=True, init=False)
class RolloutState:
    """One rollout's state: plain data, so a store can persist it and a page can show it."""

    expectation: str
    key: str
    opened_at: float
    phase: Phase
    seen: dict[str, float]  # event type -> event time
    due: dict[str, float]  # pending step -> due time
    stalled: tuple[str, ...]  # a tuple: almost always empty, and sets cost 200 bytes
    remaining: int  # steps not yet seen; 0 means complete
    deadline_at: float | None
    rollback: str | None  # the compensation trigger being honoured
    closed_at: float | None
    # Where its events came from; a lagging partition holds its deadlines.
    feeds: tuple[Partition, ...]
    # Per seen step, the event that was counted: (event id, source), for the audit trail.
    counted: dict[str, tuple[str | None, str | None]]
    # The findings emitted about it, in order (added by the pipeline): its page and the
    # history show them. A tuple, shared while empty: most rollouts never have a finding.
    findings: tuple[Finding, ...]
    # Per seen step whose event carried trace context (contract section 13): its creation
    # context, its last hop's, and where it was read. Empty while no producer traces.
    traces: dict[str, Trace]
    # What on-call did about it, in order (contract section 14): acknowledgements, snoozes,
    # notes, an abandon. A tuple shared while empty, as `findings`.
    actions: tuple[Action, ...]

    def __init__(
        self,
        expectation: str,
        key: str,
        opened_at: float,
        phase: Phase = Phase.OPEN,
        seen: dict[str, float] | None = None,
        due: dict[str, float] | None = None,
        stalled: tuple[str, ...] = (),
        remaining: int = 0,
        deadline_at: float | None = None,
        rollback: str | None = None,
        closed_at: float | None = None,
        feeds: tuple[Partition, ...] = (),
        counted: dict[str, tuple[str | None, str | None]] | None = None,
        findings: tuple[Finding, ...] = (),
        traces: dict[str, Trace] | None = None,
        actions: tuple[Action, ...] = (),
    ) -> None:
        self.expectation = expectation
        self.key = key
        self.opened_at = opened_at
        self.phase = phase
        self.seen = {} if seen is None else seen
        self.due = {} if due is None else due
        self.stalled = stalled
        self.remaining = remaining
        self.deadline_at = deadline_at
        self.rollback = rollback
        self.closed_at = closed_at
        self.feeds = feeds
        self.counted = {} if counted is None else counted
        self.findings = findings
        self.traces = {} if traces is None else traces
        self.actions = actions

    @property
    def home(self) -> Partition | None:
        """The partition that owns the rollout: the first that fed it. With several replicas,
        the rollout lives (and its changelog records go) where this partition is assigned."""
        return self.feeds[0] if self.feeds else None


def count_event(rollout: RolloutState, step: str, event: Envelope, read_context: bool) -> None:
    """`event` is the one counted for `step` (the audit trail), with its trace context."""
    rollout.counted[step] = (event.id, event.source)
    if read_context:
        creation, hop = event_contexts(event)
        if creation is not None or hop is not None:
            rollout.traces[step] = (creation, hop, event.origin)


def view_of(exp: Expectation, rollout: RolloutState) -> RolloutView:
    """A snapshot of one rollout for people: each step's state, times and counted event."""
    steps = tuple(_step_status(exp, rollout, step) for step in exp.steps)
    compensation = None
    if rollout.rollback is not None:
        comp = active_compensation(exp, rollout)
        seen_at = rollout.seen.get(comp.expect)
        stalled = comp.expect in rollout.stalled
        compensation = StepStatus(
            comp.expect,
            exp.owner,
            (comp.trigger,),
            seen_at,
            rollout.due.get(comp.expect, _stalled_due(rollout, comp)),
            stalled,
            _state(seen_at, stalled, cancelled=False, ready=True),
            *rollout.counted.get(comp.expect, (None, None)),
            *rollout.traces.get(comp.expect, NO_TRACE),
        )
    return RolloutView(
        expectation=exp.name,
        rollout=rollout.key,
        owner=exp.owner,
        phase=rollout.phase,
        opened_at=rollout.opened_at,
        deadline_at=None if exp.deadline is None else rollout.opened_at + exp.deadline,
        steps=steps,
        compensation=compensation,
        closed_at=rollout.closed_at,
        # Fired deadlines are cleared; only an open rollout still owes its deadline.
        deadline_exceeded=(
            exp.deadline is not None and rollout.phase is Phase.OPEN and rollout.deadline_at is None
        ),
        actions=rollout.actions,
    )


def _step_status(exp: Expectation, rollout: RolloutState, step: Step) -> StepStatus:
    due = rollout.due.get(step.event)
    if due is None and step.within is not None:
        if not step.after:
            due = rollout.opened_at + step.within
        elif all(prereq in rollout.seen for prereq in step.after):
            due = max(rollout.seen[prereq] for prereq in step.after) + step.within
    seen_at = rollout.seen.get(step.event)
    stalled = step.event in rollout.stalled
    return StepStatus(
        step.event,
        exp.owner_of(step.event),
        step.after,
        seen_at,
        due,
        stalled,
        _state(
            seen_at,
            stalled,
            cancelled=rollout.phase in (Phase.ROLLING_BACK, Phase.ROLLED_BACK, Phase.ABANDONED),
            ready=all(prereq in rollout.seen for prereq in step.after),
        ),
        *rollout.counted.get(step.event, (None, None)),
        *rollout.traces.get(step.event, NO_TRACE),
    )


def active_compensation(exp: Expectation, rollout: RolloutState) -> Compensation:
    comp = exp.by_trigger.get(rollout.rollback or "")
    if comp is None:  # only a trigger of this expectation can start a rollback
        raise AssertionError(f"{rollout.expectation}/{rollout.key} rolls back without a trigger")
    return comp


def _stalled_due(rollout: RolloutState, comp: Compensation) -> float | None:
    trigger_at = rollout.seen.get(comp.trigger)
    if trigger_at is None or comp.within is None:
        return None
    return trigger_at + comp.within


def _state(seen_at: float | None, stalled: bool, cancelled: bool, ready: bool) -> StepState:
    """Where one step stands: seen, stalled, cancelled by a rollback, due, or pending."""
    if seen_at is not None:
        return StepState.SEEN
    if stalled:
        return StepState.STALLED
    if cancelled:
        return StepState.CANCELLED
    return StepState.DUE if ready else StepState.PENDING
