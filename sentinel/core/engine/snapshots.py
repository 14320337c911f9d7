"""Read-only snapshots of a rollout for people: alert checklists, timelines, status pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sentinel.core.engine.actions import Action, actions_from_json, actions_to_json
from sentinel.core.engine.tracing import trace_id_of


class Phase(StrEnum):
    """Where a rollout stands."""

    OPEN = "open"
    ROLLING_BACK = "rolling_back"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"
    ABANDONED = "abandoned"  # a person called it off (contract section 14)


class StepState(StrEnum):
    """Where one step stands (contract section 11)."""

    SEEN = "seen"
    PENDING = "pending"  # a prerequisite is not seen yet
    DUE = "due"  # waiting inside its window (or without one)
    STALLED = "stalled"  # its window passed and it was not seen
    CANCELLED = "cancelled"  # a rollback took it off the script


# Views are snapshots, never changed once made, yet not `frozen`: a frozen dataclass sets each
# field through object.__setattr__ in an interpreted `__init__`, and a view is made for every
# closed rollout (its history entry) and every row of the board. An `__init__` of their own
# is compiled by mypyc (docs/design.md, "Speed"): a view costs a third of what it did.
@dataclass(slots=True, init=False)
class StepStatus:
    """One step of a rollout: when it was seen, when it is due, whether it stalled."""

    step: str
    owner: str | None
    after: tuple[str, ...]
    seen_at: float | None
    due_at: float | None  # None until every prerequisite is seen, or when it has no window
    stalled: bool  # it stalled once, even if it was seen later
    state: StepState
    # The event that was counted when the step was seen.
    event_id: str | None
    source: str | None
    # Its trace context (contract section 13): the producer's creation context and the last
    # hop's (W3C traceparents), and where it was read (`topic/partition@offset`).
    traceparent: str | None
    hop: str | None
    origin: str | None

    def __init__(
        self,
        step: str,
        owner: str | None,
        after: tuple[str, ...],
        seen_at: float | None,
        due_at: float | None,
        stalled: bool,
        state: StepState = StepState.PENDING,
        event_id: str | None = None,
        source: str | None = None,
        traceparent: str | None = None,
        hop: str | None = None,
        origin: str | None = None,
    ) -> None:
        self.step = step
        self.owner = owner
        self.after = after
        self.seen_at = seen_at
        self.due_at = due_at
        self.stalled = stalled
        self.state = state
        self.event_id = event_id
        self.source = source
        self.traceparent = traceparent
        self.hop = hop
        self.origin = origin


@dataclass(slots=True, init=False)  # made per closed rollout and per board row: as StepStatus
class RolloutView:
    """A whole rollout at one moment; times are epoch seconds."""

    expectation: str
    rollout: str
    owner: str | None
    phase: Phase
    opened_at: float
    deadline_at: float | None
    steps: tuple[StepStatus, ...]
    # During a rollback: the compensation's expected event as a step of its own.
    compensation: StepStatus | None
    closed_at: float | None
    deadline_exceeded: bool  # the deadline passed while the rollout was open
    actions: tuple[Action, ...]  # what on-call did about it, in order (contract section 14)

    def __init__(
        self,
        expectation: str,
        rollout: str,
        owner: str | None,
        phase: Phase,
        opened_at: float,
        deadline_at: float | None,
        steps: tuple[StepStatus, ...],
        compensation: StepStatus | None = None,
        closed_at: float | None = None,
        deadline_exceeded: bool = False,
        actions: tuple[Action, ...] = (),
    ) -> None:
        self.expectation = expectation
        self.rollout = rollout
        self.owner = owner
        self.phase = phase
        self.opened_at = opened_at
        self.deadline_at = deadline_at
        self.steps = steps
        self.compensation = compensation
        self.closed_at = closed_at
        self.deadline_exceeded = deadline_exceeded
        self.actions = actions

    @property
    def trace_id(self) -> str:
        """The rollout's trace id (contract section 13: from its expectation, key and opening)."""
        return trace_id_of(self.expectation, self.rollout, self.opened_at)


def view_to_json(view: RolloutView) -> dict[str, Any]:
    """A view as JSON-ready data with epoch times (the alert outbox keeps views this way)."""
    return {
        "expectation": view.expectation,
        "rollout": view.rollout,
        "owner": view.owner,
        "phase": str(view.phase),
        "opened_at": view.opened_at,
        "deadline_at": view.deadline_at,
        "steps": [_step_to_json(step) for step in view.steps],
        "compensation": None if view.compensation is None else _step_to_json(view.compensation),
        "closed_at": view.closed_at,
        "deadline_exceeded": view.deadline_exceeded,
        # Left out while none: views are kept per closed rollout, in the history and outbox.
        **({"actions": actions_to_json(view.actions)} if view.actions else {}),
    }


def view_from_json(data: Mapping[str, Any]) -> RolloutView:
    """The view `view_to_json` wrote; fields added since then take their defaults."""
    return RolloutView(
        expectation=data["expectation"],
        rollout=data["rollout"],
        owner=data["owner"],
        phase=Phase(data["phase"]),
        opened_at=data["opened_at"],
        deadline_at=data["deadline_at"],
        steps=tuple(_step_from_json(step) for step in data["steps"]),
        compensation=(
            None if data["compensation"] is None else _step_from_json(data["compensation"])
        ),
        closed_at=data["closed_at"],
        deadline_exceeded=data.get("deadline_exceeded", False),
        actions=actions_from_json(data.get("actions")),
    )


def _step_to_json(step: StepStatus) -> dict[str, Any]:
    return {
        "step": step.step,
        "owner": step.owner,
        "after": list(step.after),
        "seen_at": step.seen_at,
        "due_at": step.due_at,
        "stalled": step.stalled,
        "state": str(step.state),
        "event_id": step.event_id,
        "source": step.source,
        **_trace_json(step),
    }


def _trace_json(step: StepStatus) -> dict[str, Any]:
    # Left out while untraced: views are kept per closed rollout, in the history and outbox.
    if step.traceparent is None and step.hop is None:
        return {}
    return {"traceparent": step.traceparent, "hop": step.hop, "origin": step.origin}


def _step_from_json(data: Mapping[str, Any]) -> StepStatus:
    return StepStatus(
        step=data["step"],
        owner=data["owner"],
        after=tuple(data["after"]),
        seen_at=data["seen_at"],
        due_at=data["due_at"],
        stalled=data["stalled"],
        state=StepState(data.get("state", StepState.PENDING)),
        event_id=data.get("event_id"),
        source=data.get("source"),
        traceparent=data.get("traceparent"),
        hop=data.get("hop"),
        origin=data.get("origin"),
    )
