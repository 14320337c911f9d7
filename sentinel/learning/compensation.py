"""Compensations: a type after which the usual steps stop and one other type follows.

A trigger candidate is a type that fewer than half of the rollouts have. The usual types are
those that at least half of the rollouts *without* it have. It is a trigger when, in at least
`min_support` of its rollouts, no usual type comes after it while some usual type never came
(the rollout was cut short, not finished), and one other rare type follows it: the expected
event. That event must owe its appearances to rare types: in at least `min_support` of them
a rare type came before it (otherwise it is an optional last step, not a rollback's end).
Purely computational.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sentinel.learning.grouping import STEP_PRESENCE
from sentinel.learning.order import supported


@dataclass(frozen=True, slots=True)
class FoundCompensation:
    """`expect` followed `trigger` in `followed` of the `rollouts` that had the trigger."""

    trigger: int
    expect: int
    rollouts: int
    followed: int


def find_compensations(
    orders: Mapping[tuple[int, ...], int], group: Sequence[int], min_support: float
) -> list[FoundCompensation]:
    """The compensations of one group; `orders` are its distinct orders with their counts."""
    total = sum(orders.values())
    present: Counter[int] = Counter()
    for order, count in orders.items():
        for tid in order:
            present[tid] += count
    rare = {tid for tid in group if present[tid] < STEP_PRESENCE * total}
    found: list[FoundCompensation] = []
    expects: set[int] = set()
    # In type-id order, the order of first appearance: a trigger comes before its expect.
    for trigger in sorted(rare):
        if trigger in expects:
            continue
        candidate = _follower(orders, trigger, rare, present, min_support)
        if candidate is not None:
            found.append(candidate)
            expects.add(candidate.expect)
    return found


def _follower(
    orders: Mapping[tuple[int, ...], int],
    trigger: int,
    rare: set[int],
    present: Counter[int],
    min_support: float,
) -> FoundCompensation | None:
    without = {order: count for order, count in orders.items() if trigger not in order}
    others = sum(without.values())
    if not others:
        return None
    seen_without: Counter[int] = Counter()
    for order, count in without.items():
        for tid in order:
            seen_without[tid] += count
    usual = {tid for tid, seen in seen_without.items() if seen >= STEP_PRESENCE * others}
    rollouts = stopped = 0
    follows: Counter[int] = Counter()
    for order, count in orders.items():
        if trigger not in order:
            continue
        rollouts += count
        cut = order.index(trigger)
        later = order[cut + 1 :]
        if usual.isdisjoint(later) and not usual.issubset(order):
            stopped += count
        for tid in set(later):
            if tid in rare and tid != trigger:
                follows[tid] += count
    if not supported(stopped, rollouts, min_support) or not follows:
        return None
    expect, followed = min(follows.items(), key=lambda item: (-item[1], item[0]))
    if not supported(followed, rollouts, min_support):
        return None
    if not supported(_announced(orders, expect, rare), present[expect], min_support):
        return None
    return FoundCompensation(trigger, expect, rollouts, followed)


def _announced(orders: Mapping[tuple[int, ...], int], expect: int, rare: set[int]) -> int:
    """In how many rollouts `expect` came after some other rare type."""
    count = 0
    for order, weight in orders.items():
        if expect in order and not rare.isdisjoint(order[: order.index(expect)]):
            count += weight
    return count
