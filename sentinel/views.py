"""Read-only snapshots of a rollout for people: alert checklists, timelines, status pages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    """Where a rollout stands."""

    OPEN = "open"
    ROLLING_BACK = "rolling_back"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled_back"


@dataclass(frozen=True, slots=True)
class StepStatus:
    """One step of a rollout: when it was seen, when it is due, whether it stalled."""

    step: str
    owner: str | None
    after: tuple[str, ...]
    seen_at: float | None
    due_at: float | None  # None until every prerequisite is seen, or when it has no window
    stalled: bool


@dataclass(frozen=True, slots=True)
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
    compensation: StepStatus | None = None
    closed_at: float | None = None
