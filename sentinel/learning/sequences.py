"""Per-rollout sequences: all the learner keeps of a log, so memory grows with rollouts.

For each correlation path and rollout key, the event types in arrival order (the first event
of each type only, as the engine counts them) and their times: two short arrays of numbers
per rollout, never the events. Purely computational: the caller feeds envelopes.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sentinel.core.events.envelope import Envelope, Malformed, correlation_key

_EXAMPLES = 5


@dataclass(slots=True)
class PathSequences:
    """The rollouts seen on one correlation path."""

    path: str
    # Types another path claimed: their events are not this path's rollouts.
    skip: frozenset[str] = frozenset()
    parts: tuple[str, ...] = field(init=False)
    # Rollout key -> type ids in arrival order; `times` has the same keys in the same order.
    types: dict[str, list[int]] = field(default_factory=dict)
    # Arrays, not lists: a float in a list is a 24-byte object, in an array 8 bytes.
    times: dict[str, array[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.parts = tuple(self.path.split("."))


@dataclass(frozen=True, slots=True)
class RolloutSet:
    """Some rollouts of one path, restricted to some types: the unit every analysis reads."""

    keys: list[str]
    orders: list[list[int]]  # type ids in arrival order
    times: list[Sequence[float]]  # their event times

    def __len__(self) -> int:
        return len(self.keys)


class Collector:
    """Reads envelopes into sequences and counts what it had to leave aside, and why."""

    def __init__(self, paths: Sequence[PathSequences]) -> None:
        self.paths = list(paths)
        self.type_ids: dict[str, int] = {}
        self.type_names: list[str] = []
        self.type_counts: list[int] = []  # events per type id
        self.unkeyed: list[int] = []  # events per type id with no key on any path
        self.records = 0
        self.malformed = 0
        self.malformed_examples: list[str] = []
        self.undated = 0
        self.earliest = float("inf")
        self.clock = float("-inf")  # the largest time read so far, as replay's clock

    def feed(self, items: Iterable[Envelope | Malformed]) -> None:
        """Take every item of `items`."""
        add = self.add
        for item in items:
            add(item)

    def add(self, item: Envelope | Malformed) -> None:
        """Take one record; the hot path of `sentinel learn`."""
        self.records += 1
        if not isinstance(item, Envelope):
            self.malformed += 1
            if len(self.malformed_examples) < _EXAMPLES:
                where = f"{item.origin}: " if item.origin else ""
                self.malformed_examples.append(f"{where}{item.reason}")
            return
        at = item.time
        if at is None:
            # Replay dates such an event by its clock; before any time there is none.
            if self.clock == float("-inf"):
                self.undated += 1
                return
            at = self.clock
        elif at > self.clock:
            self.clock = at
        self.earliest = min(self.earliest, at)
        name = item.type
        tid = self.type_ids.get(name)
        if tid is None:
            tid = self.type_id(name)
        self.type_counts[tid] += 1
        keyed = False
        for path in self.paths:
            if name in path.skip:
                continue
            key = correlation_key(item.lookup(path.parts))
            if key is None:
                continue
            keyed = True
            order = path.types.get(key)
            if order is None:
                path.types[key] = [tid]
                path.times[key] = array("d", (at,))
            elif tid not in order:  # a type seen again in a rollout changes nothing
                order.append(tid)
                path.times[key].append(at)
        if not keyed:
            self.unkeyed[tid] += 1

    def type_id(self, name: str) -> int:
        """The id of an event type, given one if it is new."""
        tid = self.type_ids.get(name)
        if tid is None:
            tid = self.type_ids[name] = len(self.type_names)
            self.type_names.append(name)
            self.type_counts.append(0)
            self.unkeyed.append(0)
        return tid

    @property
    def events(self) -> int:
        return sum(self.type_counts)


def select(
    sequences: PathSequences, members: frozenset[int], require: frozenset[int] | None = None
) -> RolloutSet:
    """The rollouts with a type of `require` (default: of `members`), keeping only `members`."""
    wanted = members if require is None else require
    keys: list[str] = []
    orders: list[list[int]] = []
    times: list[Sequence[float]] = []
    # Both dicts got their keys together, so they iterate in the same order.
    for (key, order), at in zip(sequences.types.items(), sequences.times.values(), strict=True):
        if wanted.isdisjoint(order):
            continue
        keys.append(key)
        if members.issuperset(order):
            orders.append(order)
            times.append(at)
        else:
            kept = [index for index, tid in enumerate(order) if tid in members]
            orders.append([order[index] for index in kept])
            times.append([at[index] for index in kept])
    return RolloutSet(keys, orders, times)
