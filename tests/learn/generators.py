"""Random expectations and the logs their rollouts write, for the round-trip properties.

Each rollout follows its expectation: every step comes after its prerequisites and within
its window, a rollback stops the steps and its expected event follows within its window.
So that the graph can be told from timing alone, rollout `i` hurries step `i mod n` and its
prerequisites (a few seconds each) while every other step takes most of its window: every
two steps that do not depend on each other then come in both orders, in one rollout in n.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import orjson
from hypothesis import strategies as st

from sentinel.core.rules.expectations import Compensation, Expectation, Step
from sentinel.core.timefmt import format_rfc3339
from sentinel.learning.order import Precedence, descendants, reduce, successors_of

T0 = 1_795_600_800.0
MIN = 60.0
ROLLOUTS_PER_STEP = 12
ROLLBACK_EVERY = 8


@dataclass(frozen=True)
class Family:
    """One generated expectation and how its events carry the rollout key."""

    expectation: Expectation
    prefix: str

    @property
    def reduced_edges(self) -> set[tuple[str, str]]:
        """The edges of its graph after transitive reduction."""
        ids = {step.event: index for index, step in enumerate(self.expectation.steps)}
        edges = [
            Precedence(ids[p], ids[step.event], 1, 1)
            for step in self.expectation.steps
            for p in step.after
        ]
        names = [step.event for step in self.expectation.steps]
        return {(names[e.first], names[e.then]) for e in reduce(edges)}


@st.composite
def families(draw: st.DrawFn, prefix: str, correlate: str) -> Family:
    """A random DAG (fan-in and fan-out allowed) with windows, maybe compensations."""
    count = draw(st.integers(min_value=2, max_value=7))
    steps: list[Step] = []
    for index in range(count):
        after: set[int] = set()
        if index:
            after = draw(st.sets(st.integers(0, index - 1), max_size=3))
        if index == count - 1 and not any(step.after for step in steps) and not after:
            after = {0}  # at least one edge: an order to learn and to break
        within = draw(st.integers(min_value=10, max_value=30)) * MIN
        name = f"{prefix}Step{index}_Done"
        steps.append(Step(name, tuple(f"{prefix}Step{p}_Done" for p in sorted(after)), within))
    compensations = tuple(
        Compensation(
            f"{prefix}Undo{k}_Started",
            f"{prefix}Undo{k}_Finished",
            draw(st.integers(min_value=10, max_value=30)) * MIN,
        )
        for k in range(draw(st.integers(min_value=0, max_value=2)))
    )
    expectation = Expectation(
        name=f"{prefix.lower()}-generated",
        correlate=correlate,
        steps=tuple(steps),
        deadline=sum(step.within or 0.0 for step in steps),
        compensation=compensations,
    )
    return Family(expectation, prefix)


def rollout_events(
    family: Family, number: int, rng: random.Random, start: float
) -> list[tuple[float, str]]:
    """The (time, type) pairs of rollout `number`, in time order."""
    steps = family.expectation.steps
    successors = successors_of((p, step.event) for step in steps for p in step.after)
    hurried_step = steps[number % len(steps)].event
    hurried = {s.event for s in steps if hurried_step in descendants(successors, s.event)}
    at: dict[str, float] = {}
    for step in steps:  # prerequisites come earlier in the list
        ready = max((at[p] for p in step.after), default=start)
        share = rng.uniform(0.005, 0.02) if step.event in hurried else rng.uniform(0.6, 1.0)
        at[step.event] = ready + share * (step.within or 0.0)
    events = sorted((moment, name) for name, moment in at.items())
    compensations = family.expectation.compensation
    if compensations and number % ROLLBACK_EVERY == ROLLBACK_EVERY - 1:
        comp = compensations[number // ROLLBACK_EVERY % len(compensations)]
        kept = rng.randint(1, len(events) - 1)
        latest = _latest_trigger(family, events[:kept])
        if latest <= events[kept - 1][0]:
            kept, latest = 1, _latest_trigger(family, events[:1])
        trigger_at = events[kept - 1][0] + rng.uniform(0.1, 0.9) * (latest - events[kept - 1][0])
        done_at = trigger_at + rng.uniform(0.3, 1.0) * (comp.within or 0.0)
        events = [*events[:kept], (trigger_at, comp.trigger), (done_at, comp.expect)]
    return events


def _latest_trigger(family: Family, seen: list[tuple[float, str]]) -> float:
    """The latest a rollback may start after `seen` so that no step is overdue when it does,
    whatever windows are learned: a step that waits for others is never learned a window
    shorter than the shortest wait any rollout shows (a hurried step's), and a root, whose
    wait counts from the opening and may be nothing at all, is learned at least a second."""
    at = {name: moment for moment, name in seen}
    opening = seen[0][0]
    latest = float("inf")
    for step in family.expectation.steps:
        if step.event in at or not all(p in at for p in step.after):
            continue
        if step.after:
            latest = min(latest, max(at[p] for p in step.after) + 0.005 * (step.within or 0.0))
        else:
            latest = min(latest, opening + 1.0)
    return latest


def event_line(family: Family, key: str, event_id: str, event_type: str, at: float) -> bytes:
    """A structured CloudEvent; the key rides where the family's `correlate` says, and a few
    fields that are not keys (a constant, a unique number) are there to mislead discovery."""
    data: dict[str, object] = {"env": "prod", "attempt": 1, "event_no": event_id}
    event: dict[str, object] = {
        "specversion": "1.0",
        "id": event_id,
        "source": f"/{family.prefix.lower()}/deployer",
        "type": event_type,
        "time": format_rfc3339(at),
    }
    if family.expectation.correlate == "subject":
        event["subject"] = key
        data["release"] = key
    else:
        data["rollout_id"] = key
    event["data"] = data
    return orjson.dumps(event)


def write_log(
    families_: list[Family], seed: int, broken: int = 0
) -> tuple[list[bytes], dict[str, list[str]]]:
    """Lines of every family's rollouts, interleaved in time order; with `broken`, that many
    rollouts of each family (none rolling back) swap the times of one edge's two steps.
    Returns the lines and, per family prefix, the keys of the broken rollouts."""
    rng = random.Random(seed)
    timed: list[tuple[float, bytes]] = []
    spoiled: dict[str, list[str]] = {}
    for family in families_:
        steps = family.expectation.steps
        edge = next((p, step.event) for step in steps for p in step.after)
        total = ROLLOUTS_PER_STEP * len(steps)
        candidates = [n for n in range(total) if n % ROLLBACK_EVERY != ROLLBACK_EVERY - 1]
        chosen = set(rng.sample(candidates, broken))
        for number in range(total):
            key = f"{family.prefix.lower()}-{number}"
            start = T0 + number * 137.0 + rng.uniform(0.0, 60.0)
            events = rollout_events(family, number, rng, start)
            if number in chosen:
                times = {name: moment for moment, name in events}
                times[edge[0]], times[edge[1]] = times[edge[1]], times[edge[0]]
                events = sorted((moment, name) for name, moment in times.items())
                spoiled.setdefault(family.prefix, []).append(key)
            for index, (moment, name) in enumerate(events):
                line = event_line(family, key, f"{key}-{index}", name, moment)
                timed.append((moment, line))
    timed.sort(key=lambda pair: pair[0])
    return [line for _, line in timed], spoiled
