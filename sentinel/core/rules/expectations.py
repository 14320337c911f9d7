"""The expectation model: what a team says its rollout should look like (contract section 3).

Plain frozen data; the YAML loader that builds it lives in `expectation_loader`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Step:
    """One event the rollout must see, and when."""

    event: str
    after: tuple[str, ...] = ()
    within: float | None = None  # seconds after the last prerequisite (or the opening, for a root)
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Compensation:
    """A rollback path: after `trigger`, only `expect` is due, within `within` seconds."""

    trigger: str
    expect: str
    within: float | None = None


@dataclass(frozen=True, slots=True)
class Expectation:
    """One expected sequence, as one YAML document declares it."""

    name: str
    correlate: str
    steps: tuple[Step, ...]
    owner: str | None = None
    description: str | None = None
    deadline: float | None = None
    compensation: tuple[Compensation, ...] = ()
    # `path:line` of the document, for messages that point back at the file.
    origin: str = ""
    # Derived lookups, filled in by __post_init__ so that the engine never recomputes them.
    correlate_path: tuple[str, ...] = field(init=False, repr=False, compare=False)
    step_index: Mapping[str, Step] = field(init=False, repr=False, compare=False)
    dependents: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)
    event_types: frozenset[str] = field(init=False, repr=False, compare=False)
    roots: tuple[Step, ...] = field(init=False, repr=False, compare=False)
    # Compensations by their trigger and by their expected event (first one wins).
    by_trigger: Mapping[str, Compensation] = field(init=False, repr=False, compare=False)
    by_expect: Mapping[str, Compensation] = field(init=False, repr=False, compare=False)
    # For each step, the steps that wait for it (as Step objects: the engine's hot path).
    dependent_steps: Mapping[str, tuple[Step, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        dependents: dict[str, list[str]] = {step.event: [] for step in self.steps}
        for step in self.steps:
            for prerequisite in step.after:
                dependents.setdefault(prerequisite, []).append(step.event)
        types = {step.event for step in self.steps}
        for comp in self.compensation:
            types.update((comp.trigger, comp.expect))
        object.__setattr__(self, "correlate_path", tuple(self.correlate.split(".")))
        object.__setattr__(self, "step_index", {step.event: step for step in self.steps})
        object.__setattr__(
            self, "dependents", {name: tuple(deps) for name, deps in dependents.items()}
        )
        object.__setattr__(self, "event_types", frozenset(types))
        # Steps without prerequisites: their `within` counts from the rollout's opening.
        object.__setattr__(self, "roots", tuple(step for step in self.steps if not step.after))
        by_trigger: dict[str, Compensation] = {}
        by_expect: dict[str, Compensation] = {}
        for comp in self.compensation:
            by_trigger.setdefault(comp.trigger, comp)
            by_expect.setdefault(comp.expect, comp)
        object.__setattr__(self, "by_trigger", by_trigger)
        object.__setattr__(self, "by_expect", by_expect)
        index = {step.event: step for step in self.steps}
        object.__setattr__(
            self,
            "dependent_steps",
            {
                name: tuple(index[dep] for dep in deps if dep in index)
                for name, deps in dependents.items()
            },
        )

    def owner_of(self, step: str | None) -> str | None:
        """Who is alerted about `step`: the step's owner, else the expectation's."""
        found = self.step_index.get(step) if step is not None else None
        if found is not None and found.owner is not None:
            return found.owner
        return self.owner


def index_by_type(expectations: Sequence[Expectation]) -> dict[str, list[Expectation]]:
    """The expectations that name each event type, in load order."""
    by_type: dict[str, list[Expectation]] = {}
    for exp in expectations:
        for event_type in sorted(exp.event_types):
            by_type.setdefault(event_type, []).append(exp)
    return by_type
