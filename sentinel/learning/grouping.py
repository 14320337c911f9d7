"""Which event types make one expectation, and which of them are its steps.

Types belong together when they share rollouts: two types are linked when at least half of
the rollouts of the rarer one also have the other, and each connected set of two or more
types is one expectation. Its steps are the types that at least half of its rollouts without
a rollback have; rarer types are left out (a step that most rollouts skip would stall them)
and listed. Purely computational.
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
    """Connected sets of two or more linked types, each in type-id order, first seen first."""
    sets = Counter(frozenset(order) for order in orders)
    count: Counter[int] = Counter()
    shared: Counter[tuple[int, int]] = Counter()
    for types, rollouts in sets.items():
        ordered = sorted(types)
        for index, first in enumerate(ordered):
            count[first] += rollouts
            for second in ordered[index + 1 :]:
                shared[(first, second)] += rollouts
    parent = {tid: tid for tid in count}

    def root(tid: int) -> int:
        while parent[tid] != tid:
            parent[tid] = parent[parent[tid]]
            tid = parent[tid]
        return tid

    for (first, second), together in shared.items():
        if together >= LINK_SHARE * min(count[first], count[second]):
            low, high = sorted((root(first), root(second)))
            parent[high] = low
    components: dict[int, list[int]] = {}
    for tid in sorted(count):
        components.setdefault(root(tid), []).append(tid)
    return [members for _, members in sorted(components.items()) if len(members) >= 2]


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
