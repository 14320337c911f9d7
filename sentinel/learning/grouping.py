"""Which event types make one expectation, and which of them are its steps.

Types belong together when they share rollouts: a type joins a group when at least half of
its rollouts also have a type of that group (repeated until nothing joins), and each group of
two or more types is one expectation. A rollback's trigger joins through whichever step came
before it, even when that step differs from rollout to rollout. Its steps are the types that
at least half of its rollouts without a rollback have; rarer types are left out (a step that
most rollouts skip would stall them) and listed. Purely computational.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass

LINK_SHARE = 0.5
STEP_PRESENCE = 0.5


@dataclass(frozen=True, slots=True)
class Presence:
    """An event type in `seen` of `of` rollouts."""

    type: int
    seen: int
    of: int


def group_types(orders: Iterable[Sequence[int]]) -> list[list[int]]:
    """Groups of two or more types, each in type-id order, first seen first."""
    sets = Counter(frozenset(order) for order in orders)
    count: Counter[int] = Counter()
    for types, rollouts in sets.items():
        for tid in types:
            count[tid] += rollouts
    parent = {tid: tid for tid in count}

    def root(tid: int) -> int:
        while parent[tid] != tid:
            parent[tid] = parent[parent[tid]]
            tid = parent[tid]
        return tid

    joined = True
    while joined:
        joined = False
        # For each type and each other group: in how many of the type's rollouts it is.
        shared: Counter[tuple[int, int]] = Counter()
        for types, rollouts in sets.items():
            groups = {root(tid) for tid in types}
            for tid in types:
                for group in groups - {root(tid)}:
                    shared[(tid, group)] += rollouts
        for (tid, group), together in sorted(shared.items()):
            if together >= LINK_SHARE * count[tid] and root(tid) != root(group):
                low, high = sorted((root(tid), root(group)))
                parent[high] = low
                joined = True
    members: dict[int, list[int]] = {}
    for tid in sorted(count):
        members.setdefault(root(tid), []).append(tid)
    return [group for _, group in sorted(members.items()) if len(group) >= 2]


def choose_steps(
    orders: Sequence[Sequence[int]],
    group: Sequence[int],
    triggers: AbstractSet[int],
    roles: AbstractSet[int],
) -> tuple[list[Presence], list[Presence]]:
    """The steps of a group and the types left out, from the rollouts without a trigger.

    `roles` are the compensations' triggers and expected events: never steps. When every
    rollout rolled back, all of them count.
    """
    plain = [order for order in orders if triggers.isdisjoint(order)] or list(orders)
    seen: Counter[int] = Counter()
    for order in plain:
        seen.update(order)
    steps: list[Presence] = []
    left_out: list[Presence] = []
    for tid in group:
        if tid not in roles:
            presence = Presence(tid, seen[tid], len(plain))
            kept = presence.seen >= STEP_PRESENCE * presence.of
            (steps if kept else left_out).append(presence)
    return steps, left_out
