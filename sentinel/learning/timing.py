"""What each rollout did under a given step graph, read the way the engine would read it.

One pass over the rollouts gives the waits of each step (from its last prerequisite, or from
the rollout's opening for a root), the durations of the completed rollouts, the waits of each
compensation, which rollouts completed, rolled back or are still open, and which broke the
graph (a step before one of its prerequisites: an `out_of_order` in a replay). The same pass
serves learned graphs and a team's declared ones. Purely computational.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sentinel.learning.sequences import RolloutSet


@dataclass(frozen=True, slots=True)
class Broken:
    """A rollout whose `step` arrived before its prerequisites `missing`."""

    key: str
    step: int
    missing: tuple[int, ...]


@dataclass(slots=True)
class Observed:
    """Per step and per compensation, the waits seen; per rollout, how it ended."""

    # Arrays: one wait per rollout and step, 8 bytes each instead of a float object's 32.
    waits: dict[int, array[float]]
    durations: array[float] = field(default_factory=lambda: array("d"))  # completed: opening
    rollback_waits: dict[int, array[float]] = field(default_factory=dict)  # by trigger
    completed: int = 0
    rolled_back: int = 0
    rolling_back: list[str] = field(default_factory=list)  # a trigger, its expect not (yet)
    incomplete: list[str] = field(default_factory=list)
    broken: list[Broken] = field(default_factory=list)
    # For each watched pair (first, then): the rollouts where `then` arrived first.
    reversed: dict[tuple[int, int], list[str]] = field(default_factory=dict)


def observe(
    rollouts: RolloutSet,
    after: Mapping[int, Sequence[int]],
    compensations: Mapping[int, int],
    watch: Sequence[tuple[int, int]] = (),
) -> Observed:
    """Read every rollout against the graph `after` (step -> its prerequisites; every step is
    a key) and the compensations (trigger -> expected event)."""
    result = Observed(
        waits={step: array("d") for step in after},
        rollback_waits={trigger: array("d") for trigger in compensations},
        reversed={pair: [] for pair in watch},
    )
    expects = set(compensations.values())
    named = set(after) | set(compensations) | expects
    total = len(after)
    for key, order, times in zip(rollouts.keys, rollouts.orders, rollouts.times, strict=True):
        _one(result, key, order, times, after, compensations, named, expects, total)
        for pair, keys in result.reversed.items():
            first, then = pair
            if first in order and then in order and order.index(then) < order.index(first):
                keys.append(key)
    return result


def _one(
    result: Observed,
    key: str,
    order: Sequence[int],
    times: Sequence[float],
    after: Mapping[int, Sequence[int]],
    compensations: Mapping[int, int],
    named: set[int],
    expects: set[int],
    total: int,
) -> None:
    seen: dict[int, float] = {}
    early: dict[int, float] = {}  # an expected event that came before any trigger
    opening: float | None = None
    trigger: int | None = None
    trigger_at = 0.0
    broken: Broken | None = None
    for tid, at in zip(order, times, strict=True):
        if tid not in named:
            continue
        if opening is None:
            opening = at
        if trigger is not None:
            if tid == compensations[trigger]:
                result.rollback_waits[trigger].append(max(0.0, at - trigger_at))
                result.rolled_back += 1
                break
            continue  # during a rollback only its expected event counts
        if tid in compensations:
            trigger, trigger_at = tid, at
            if compensations[tid] in early:  # the engine finishes the rollback at once
                result.rolled_back += 1
                break
            continue
        if tid in expects:
            early.setdefault(tid, at)
            continue
        prerequisites = after[tid]
        if prerequisites:
            missing = tuple(p for p in prerequisites if p not in seen)
            if missing:
                broken = broken or Broken(key, tid, missing)
            else:
                last = max(seen[p] for p in prerequisites)
                result.waits[tid].append(max(0.0, at - last))
        else:
            result.waits[tid].append(max(0.0, at - opening))
        seen[tid] = at
        if len(seen) == total:
            result.completed += 1
            result.durations.append(max(0.0, max(seen.values()) - opening))
            break
    else:
        if trigger is not None:
            result.rolling_back.append(key)
        else:
            result.incomplete.append(key)
    if broken is not None:
        result.broken.append(broken)
