"""What `sentinel learn` found, as plain data: the renderers and the tests read only this."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sentinel.learning.delays import Delays

DifferenceKind = Literal[
    "undeclared_dependency", "unseen_dependency", "short_window", "missing_step"
]


@dataclass(frozen=True, slots=True)
class Edge:
    """A learned prerequisite: it arrived first in `before` of the `both` rollouts with both."""

    prerequisite: str
    before: int
    both: int


@dataclass(frozen=True, slots=True)
class LearnedStep:
    """One step with its prerequisites, its window and the evidence for them."""

    event: str
    after: tuple[Edge, ...]
    within: float | None
    waits: Delays | None  # from the last prerequisite (a root: from the opening)
    seen: int  # rollouts without a rollback that had it
    of: int


@dataclass(frozen=True, slots=True)
class LearnedCompensation:
    """`expect` followed `trigger` in `followed` of the `rollouts` that had the trigger."""

    trigger: str
    expect: str
    within: float | None
    waits: Delays | None
    rollouts: int
    followed: int


@dataclass(frozen=True, slots=True)
class BrokenOrder:
    """A rollout whose `step` arrived before its learned prerequisites `missing`."""

    rollout: str
    step: str
    missing: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WeakOrder:
    """`first` came before `then` more often than not, but below the minimum support."""

    first: str
    then: str
    before: int
    both: int
    reversed: tuple[str, ...]  # the rollouts where `then` came first


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A type of the group that too few rollouts had to be a step."""

    event: str
    seen: int
    of: int


@dataclass(frozen=True, slots=True)
class LearnedExpectation:
    """One proposed expectation and what the log said about it."""

    name: str
    correlate: str
    steps: tuple[LearnedStep, ...]  # prerequisites first
    deadline: float | None
    durations: Delays | None  # opening to last step, of the completed rollouts
    compensations: tuple[LearnedCompensation, ...]
    rollouts: int
    completed: int
    rolled_back: int
    open: tuple[str, ...]  # neither completed nor rolled back by the end of the log
    broken: tuple[BrokenOrder, ...]
    weak: tuple[WeakOrder, ...]
    left_out: tuple[LeftOut, ...]
    min_support: float


@dataclass(frozen=True, slots=True)
class Difference:
    """One way in which a team's expectation and the bus disagree, with the figures."""

    kind: DifferenceKind
    step: str | None  # the step it is about; None for the deadline
    text: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """A team's expectation held against the bus."""

    name: str
    origin: str  # path:line of its document
    correlate: str
    rollouts: int
    differences: tuple[Difference, ...]


@dataclass(frozen=True, slots=True)
class Reading:
    """What was read, and what was left aside and why."""

    records: int
    events: int
    malformed: int
    malformed_examples: tuple[str, ...]
    undated: int  # no time, and no earlier time to date it by
    unrelated: tuple[tuple[str, int], ...]  # types in no expectation, with their events
    unkeyed: tuple[tuple[str, int], ...]  # events of learned types without a rollout key
    earliest: float | None
    latest: float | None


@dataclass(frozen=True, slots=True)
class LearnResult:
    """Everything `sentinel learn` has to say."""

    paths: tuple[str, ...]  # the correlation paths used for learning
    expectations: tuple[LearnedExpectation, ...]
    comparisons: tuple[Comparison, ...]
    reading: Reading

    @property
    def differences(self) -> int:
        return sum(len(comparison.differences) for comparison in self.comparisons)
