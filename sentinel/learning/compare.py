"""`--against`: where a team's expectation and the bus disagree, each time with the figures.

The team's rollouts are read on the team's own correlation path. Four kinds of difference:
a dependency the bus shows and the file does not imply (including on a type most rollouts
have and the file does not name), a declared dependency the bus does not show, a window
(or deadline, or compensation window) below the 99th percentile of the observed waits (each
such wait is a future false alarm), and a step that never occurs. Purely computational.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from collections.abc import Set as AbstractSet

from sentinel.core.durations import format_duration
from sentinel.core.rules.expectations import Expectation
from sentinel.learning.delays import Delays
from sentinel.learning.grouping import STEP_PRESENCE
from sentinel.learning.model import Comparison, Difference
from sentinel.learning.order import (
    count_before,
    descendants,
    learn_order,
    precedence,
    step_orders,
    successors_of,
    supported,
)
from sentinel.learning.sequences import Collector, PathSequences, select
from sentinel.learning.timing import Observed, observe


def compare(
    expectation: Expectation,
    sequences: PathSequences,
    collector: Collector,
    min_support: float,
    others: AbstractSet[str],
) -> Comparison:
    """The differences between `expectation` and its rollouts in `sequences`; `others` are
    the types of the team's other expectations on the same path (never counted as missing
    from this one)."""
    ids, names = collector.type_ids, collector.type_names
    own = frozenset(ids[name] for name in expectation.event_types if name in ids)
    foreign = {ids[name] for name in others if name in ids} - own
    around = select(sequences, frozenset(range(len(names))) - foreign, require=own)
    occurs: Counter[int] = Counter()
    for order in around.orders:
        occurs.update(order)
    present = {step.event for step in expectation.steps if occurs[ids.get(step.event, -1)]}
    triggers = {ids[c.trigger] for c in expectation.compensation if c.trigger in ids}
    plain = [order for order in around.orders if triggers.isdisjoint(order)] or around.orders
    seen: Counter[int] = Counter()
    for order in plain:
        seen.update(order)
    extra = {
        tid for tid, count in seen.items() if tid not in own and count >= STEP_PRESENCE * len(plain)
    }
    steps = {ids[name] for name in present} | extra
    compensations = {
        ids[c.trigger]: ids[c.expect]
        for c in expectation.compensation
        if c.trigger in ids and c.expect in ids
    }
    members = frozenset(steps | set(compensations) | set(compensations.values()))
    rollouts = select(sequences, members, require=own)
    distinct = Counter(tuple(order) for order in rollouts.orders)
    before = count_before(step_orders(distinct, steps, set(compensations)).items())
    after = {
        ids[step.event]: [ids[p] for p in step.after if p in present]
        for step in expectation.steps
        if step.event in present
    }
    observed = observe(rollouts, after, compensations)

    differences: list[Difference] = []
    declared = successors_of((p, step.event) for step in expectation.steps for p in step.after)
    for edge in learn_order(before, min_support).edges:
        first, then = names[edge.first], names[edge.then]
        if then in descendants(declared, first):
            continue
        strangers = [name for name in (first, then) if name not in expectation.event_types]
        note = f" ({' and '.join(strangers)}: not in the file)" if strangers else ""
        differences.append(
            Difference(
                "undeclared_dependency",
                then,
                f"{then} after {first}: {first} came first in {edge.before} of {edge.both}"
                f" rollouts that have both ({edge.before / edge.both:.0%}); the file does not"
                f" say so{note}",
            )
        )
    for step in expectation.steps:
        for prerequisite in step.after:
            if step.event not in present or prerequisite not in present:
                continue  # reported below as a step that never occurs
            found = precedence(before, ids[prerequisite], ids[step.event])
            if found.both == 0:
                evidence = "no rollout has both"
            elif not supported(found.before, found.both, min_support):
                evidence = (
                    f"{prerequisite} came first in only {found.before} of {found.both} rollouts"
                    f" that have both ({found.support:.0%}; the minimum support is"
                    f" {min_support:.0%})"
                )
            else:
                continue
            differences.append(
                Difference(
                    "unseen_dependency",
                    step.event,
                    f"{step.event} after {prerequisite}: declared, but {evidence}",
                )
            )
    differences.extend(_windows(expectation, observed, ids))
    for step in expectation.steps:
        if step.event in present:
            continue
        tid = ids.get(step.event)
        if tid is None:
            why = "no event of this type in the log"
        else:
            why = (
                f"{collector.type_counts[tid]} event(s) of this type, none with a value at"
                f" {expectation.correlate}"
            )
        differences.append(
            Difference("missing_step", step.event, f"{step.event} never occurs: {why}")
        )
    return Comparison(
        expectation.name,
        expectation.origin,
        expectation.correlate,
        len(rollouts),
        tuple(differences),
    )


def _windows(expectation: Expectation, observed: Observed, ids: dict[str, int]) -> list[Difference]:
    """Every declared window that the 99th percentile of its observed waits exceeds."""
    checks: list[tuple[str | None, str, float | None, Sequence[float]]] = [
        (step.event, f"{step.event}: within", step.within, observed.waits.get(ids[step.event], ()))
        for step in expectation.steps
        if step.event in ids
    ]
    checks.append((None, "deadline", expectation.deadline, observed.durations))
    for comp in expectation.compensation:
        waits = observed.rollback_waits.get(ids.get(comp.trigger, -1), ())
        label = f"{comp.expect} (compensation of {comp.trigger}): within"
        checks.append((comp.expect, label, comp.within, waits))
    differences = []
    for step, label, window, values in checks:
        delays = Delays.of(values)
        if window is None or delays is None or delays.p99 <= window:
            continue
        longer = sum(1 for value in values if value > window)
        differences.append(
            Difference(
                "short_window",
                step,
                f"{label} {format_duration(window)}, but the 99th percentile on the bus is"
                f" {format_duration(delays.p99)} ({longer} of {delays.count} took longer, the"
                f" longest {format_duration(delays.max)}): each a future false alarm",
            )
        )
    return differences
