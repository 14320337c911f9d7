"""One group of event types, and its rollouts, into one proposed expectation.

The order of the work matters: compensations first (their rollouts are cut at the trigger),
then the steps (from the rollouts without a rollback), the graph (from the steps' arrival
order before any trigger), and last the windows, read against that graph the way the engine
will read them. Purely computational.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from sentinel.learning.compensation import find_compensations
from sentinel.learning.delays import Delays, propose_window
from sentinel.learning.grouping import choose_steps
from sentinel.learning.model import (
    BrokenOrder,
    Edge,
    LearnedCompensation,
    LearnedExpectation,
    LearnedStep,
    LeftOut,
    WeakOrder,
)
from sentinel.learning.order import count_before, learn_order, step_orders, topological
from sentinel.learning.sequences import RolloutSet
from sentinel.learning.timing import observe


def propose(
    rollouts: RolloutSet,
    group: Sequence[int],
    names: Sequence[str],
    correlate: str,
    min_support: float,
) -> LearnedExpectation | None:
    """The expectation of `group` (type ids) over its rollouts; None when it has no step."""
    distinct = Counter(tuple(order) for order in rollouts.orders)
    found = find_compensations(distinct, group, min_support)
    triggers = {comp.trigger for comp in found}
    roles = triggers | {comp.expect for comp in found}
    steps, left_out = choose_steps(rollouts.orders, group, triggers, roles)
    if not steps:
        return None
    step_ids = {presence.type for presence in steps}
    arrivals = step_orders(distinct, step_ids, triggers)
    order = learn_order(count_before(arrivals.items()), min_support)
    placed = topological(_by_position(arrivals, step_ids), [(e.first, e.then) for e in order.edges])
    rank = {tid: index for index, tid in enumerate(placed)}
    after: dict[int, list[int]] = {tid: [] for tid in placed}
    for edge in order.edges:
        after[edge.then].append(edge.first)
    for prerequisites in after.values():
        prerequisites.sort(key=rank.__getitem__)
    compensations = {comp.trigger: comp.expect for comp in found}
    watch = [(weak.first, weak.then) for weak in order.weak]
    observed = observe(rollouts, after, compensations, watch)
    presence = {p.type: p for p in steps}
    evidence = {(edge.first, edge.then): edge for edge in order.edges}
    learned_steps = []
    for tid in placed:
        waits = Delays.of(observed.waits[tid])
        # A root that opened every rollout it was in needs no window: it is the opening.
        opens = not after[tid] and waits is not None and waits.max == 0
        learned_steps.append(
            LearnedStep(
                names[tid],
                tuple(
                    Edge(names[p], evidence[(p, tid)].before, evidence[(p, tid)].both)
                    for p in after[tid]
                ),
                None if waits is None or opens else propose_window(waits),
                waits,
                presence[tid].seen,
                presence[tid].of,
            )
        )
    durations = Delays.of(observed.durations)
    return LearnedExpectation(
        name=slug(names[placed[0]]),
        correlate=correlate,
        steps=tuple(learned_steps),
        deadline=None if durations is None else propose_window(durations),
        durations=durations,
        compensations=tuple(
            _compensation(
                comp.trigger,
                comp.expect,
                comp.rollouts,
                comp.followed,
                names,
                Delays.of(observed.rollback_waits[comp.trigger]),
            )
            for comp in found
        ),
        rollouts=len(rollouts),
        completed=observed.completed,
        rolled_back=observed.rolled_back,
        open=tuple(observed.rolling_back + observed.incomplete),
        broken=tuple(
            BrokenOrder(b.key, names[b.step], tuple(names[m] for m in b.missing))
            for b in observed.broken
        ),
        weak=tuple(
            WeakOrder(
                names[w.first],
                names[w.then],
                w.before,
                w.both,
                tuple(observed.reversed[(w.first, w.then)]),
            )
            for w in order.weak
        ),
        left_out=tuple(LeftOut(names[p.type], p.seen, p.of) for p in left_out),
        min_support=min_support,
    )


def _by_position(arrivals: Counter[tuple[int, ...]], steps: set[int]) -> list[int]:
    """The steps by their mean place in the rollouts: the file lists them as they happen."""
    total: Counter[int] = Counter()
    count: Counter[int] = Counter()
    for order, rollouts in arrivals.items():
        for index, tid in enumerate(order):
            total[tid] += index * rollouts
            count[tid] += rollouts
    return sorted(steps, key=lambda tid: (total[tid] / count[tid] if count[tid] else 0.0, tid))


def _compensation(
    trigger: int,
    expect: int,
    rollouts: int,
    followed: int,
    names: Sequence[str],
    waits: Delays | None,
) -> LearnedCompensation:
    within = None if waits is None else propose_window(waits)
    return LearnedCompensation(names[trigger], names[expect], within, waits, rollouts, followed)


def slug(event_type: str) -> str:
    """An expectation name from an event type: `SchemaV2_Ready` -> `schema-v2-ready`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", event_type)
    name = re.sub(r"[^a-z0-9]+", "-", spaced.lower()).strip("-")
    return name or "learned"
