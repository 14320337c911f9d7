"""The prerequisite graph: `A` before `B` in enough of the rollouts that have both, reduced.

Steps are numbers here (type ids). An edge is kept when its support reaches the minimum; an
edge that would close a cycle (possible when different rollouts have different pairs) gives
way to stronger ones; then every edge that other edges imply is dropped (transitive
reduction), which keeps fan-in and fan-out as they are. Purely computational.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TypeVar

Node = TypeVar("Node", bound=Hashable)

# Supports are ratios of counts: 19 of 20 must pass a minimum of 0.95 despite rounding.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Precedence:
    """`first` arrived before `then` in `before` of the `both` rollouts that have the two."""

    first: int
    then: int
    before: int
    both: int

    @property
    def support(self) -> float:
        return self.before / self.both


@dataclass(frozen=True, slots=True)
class LearnedOrder:
    """The reduced edges, and the orders that held more often than not but not enough."""

    edges: tuple[Precedence, ...]
    weak: tuple[Precedence, ...]


def step_orders(
    distinct: Mapping[tuple[int, ...], int], steps: AbstractSet[int], triggers: AbstractSet[int]
) -> Counter[tuple[int, ...]]:
    """The arrival order of the steps in each rollout, up to its trigger if it has one (a
    rollback cancels what follows). `distinct` maps each order to its number of rollouts."""
    result: Counter[tuple[int, ...]] = Counter()
    for order, count in distinct.items():
        kept = []
        for tid in order:
            if tid in triggers:
                break
            if tid in steps:
                kept.append(tid)
        result[tuple(kept)] += count
    return result


def count_before(orders: Iterable[tuple[Sequence[int], int]]) -> dict[tuple[int, int], int]:
    """For each (a, b): in how many rollouts a arrived before b. `orders` are (order, count)."""
    before: dict[tuple[int, int], int] = {}
    for order, count in orders:
        for index, first in enumerate(order):
            for then in order[index + 1 :]:
                pair = (first, then)
                before[pair] = before.get(pair, 0) + count
    return before


def precedence(before: Mapping[tuple[int, int], int], first: int, then: int) -> Precedence:
    """The evidence for `first` before `then`."""
    count = before.get((first, then), 0)
    return Precedence(first, then, count, count + before.get((then, first), 0))


def supported(count: int, total: int, min_support: float) -> bool:
    """Whether `count` of `total` rollouts reach the ratio `min_support`."""
    return count >= min_support * total - _EPSILON


def learn_order(before: Mapping[tuple[int, int], int], min_support: float) -> LearnedOrder:
    """The reduced graph of the orders with at least `min_support`, and the near misses."""
    strong: list[Precedence] = []
    weak: list[Precedence] = []
    for first, then in before:
        found = precedence(before, first, then)
        if supported(found.before, found.both, min_support):
            strong.append(found)
        elif found.before * 2 > found.both:
            weak.append(found)
    edges = reduce(acyclic(strong))
    successors = successors_of((edge.first, edge.then) for edge in edges)
    unexplained = [w for w in weak if w.then not in descendants(successors, w.first)]
    unexplained.sort(key=lambda w: (-w.support, -w.both, w.first, w.then))
    return LearnedOrder(tuple(edges), tuple(unexplained))


def acyclic(edges: Iterable[Precedence]) -> list[Precedence]:
    """The edges, strongest first; one that would close a cycle is left out."""
    successors: dict[int, set[int]] = {}
    kept: list[Precedence] = []
    for edge in sorted(edges, key=lambda e: (-e.support, -e.both, e.first, e.then)):
        if edge.first in descendants(successors, edge.then):  # it would close a cycle
            continue
        successors.setdefault(edge.first, set()).add(edge.then)
        kept.append(edge)
    return kept


def reduce(edges: Sequence[Precedence]) -> list[Precedence]:
    """The edges of a DAG that no other path implies (its transitive reduction)."""
    successors = successors_of((edge.first, edge.then) for edge in edges)
    kept = []
    for edge in edges:
        others = successors[edge.first] - {edge.then}
        if not any(edge.then in descendants(successors, other) for other in others):
            kept.append(edge)
    return kept


def successors_of(edges: Iterable[tuple[Node, Node]]) -> dict[Node, set[Node]]:
    """Adjacency of a list of (prerequisite, dependent) pairs."""
    successors: dict[Node, set[Node]] = {}
    for first, then in edges:
        successors.setdefault(first, set()).add(then)
    return successors


def descendants(successors: Mapping[Node, set[Node]], start: Node) -> set[Node]:
    """Every node reachable from `start` (itself included)."""
    found = {start}
    stack = [start]
    while stack:
        for then in successors.get(stack.pop(), ()):
            if then not in found:
                found.add(then)
                stack.append(then)
    return found


def topological(nodes: Sequence[int], edges: Iterable[tuple[int, int]]) -> list[int]:
    """`nodes` with every prerequisite before its dependents; ties keep the given order."""
    successors = successors_of(edges)
    waiting = dict.fromkeys(nodes, 0)
    for targets in successors.values():
        for then in targets:
            waiting[then] += 1
    placed: list[int] = []
    ready = [node for node in nodes if waiting[node] == 0]
    rank = {node: index for index, node in enumerate(nodes)}
    while ready:
        ready.sort(key=rank.__getitem__)
        node = ready.pop(0)
        placed.append(node)
        for then in successors.get(node, ()):
            waiting[then] -= 1
            if waiting[then] == 0:
                ready.append(then)
    return placed
