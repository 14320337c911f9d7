"""The engine's deadline heap: lazy deletion, compacted when stale entries dominate.

A deadline is data in its rollout (`due`, `deadline_at`); the heap only says when to look.
Cancelling or meeting a deadline leaves its entry behind, checked and dropped when popped.
With long windows and rollouts that finish early, those stale entries would outnumber the
live ones many times over and every push and pop would pay for them: the engine counts what
it cancels, and the heap is rebuilt from its live entries once the stale ones are the
majority (each rebuild is paid for by as many cancellations as entries it keeps).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection
from typing import Final

from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.snapshots import Phase
from sentinel.core.engine.watermarks import Watermarks
from sentinel.core.events.records import Partition

# A heap key whose step is "" is the rollout's overall deadline.
ROLLOUT_DEADLINE: Final = ""
# Below this size a heap is never worth rebuilding.
COMPACT_MIN: Final = 1024
# Deadlines due further ahead than this, when set, wait in the far heap.
NEAR_S: Final = 3600.0

Entry = tuple[float, str, str, str]  # (due, expectation, rollout key, step)
Rollouts = dict[str, dict[str, RolloutState]]


def live_rollout(rollouts: Rollouts, entry: Entry) -> RolloutState | None:
    """The rollout whose deadline `entry` still is, or None when it was cancelled, moved or
    met since it was scheduled (or the rollout is gone)."""
    due, name, key, step = entry
    by_key = rollouts.get(name)
    rollout = None if by_key is None else by_key.get(key)
    if rollout is None:
        return None
    if step == ROLLOUT_DEADLINE:
        live = rollout.phase is Phase.OPEN and rollout.deadline_at == due
    else:
        live = rollout.due.get(step) == due
    return rollout if live else None


def entries_of(rollout: RolloutState) -> list[Entry]:
    """The live heap entries of `rollout` (to rebuild the heap from stored rollouts)."""
    name, key = rollout.expectation, rollout.key
    entries = [(due, name, key, step) for step, due in rollout.due.items()]
    if rollout.deadline_at is not None and rollout.phase is Phase.OPEN:
        entries.append((rollout.deadline_at, name, key, ROLLOUT_DEADLINE))
    return entries


def pending(rollout: RolloutState) -> int:
    """How many heap entries of `rollout` are live: its step deadlines and its own."""
    return len(rollout.due) + (rollout.deadline_at is not None)


class DeadlineHeap:
    """Entries in due order; `stale` estimates how many no longer match their rollout.

    Two heaps, popped as one (the smaller top first, so the order is the one heap's): the
    deadlines due within `NEAR_S` of the clock when they were set, and the later ones. Every
    event pushes and pops near deadlines, and with a million rollouts open for days a single
    heap made each push and pop climb twenty levels of cold memory; the far ones are pushed
    once, in about the order they fall due, and popped once.
    """

    def __init__(self) -> None:
        self.near: list[Entry] = []
        self.far: list[Entry] = []
        self.stale = 0
        self.compactions = 0  # how often the heap was rebuilt (for tests and the benchmark)

    def __len__(self) -> int:
        return len(self.near) + len(self.far)

    def __bool__(self) -> bool:
        return bool(self.near) or bool(self.far)

    @property
    def next_due(self) -> float:
        """When the earliest entry is due (perhaps a stale one); infinity when none is."""
        near, far = self.near, self.far
        if near:
            return near[0][0] if not far or near[0][0] <= far[0][0] else far[0][0]
        return far[0][0] if far else math.inf

    def push(self, entry: Entry, now: float) -> None:
        """`entry`, set at clock `now`."""
        heapq.heappush(self.far if entry[0] - now > NEAR_S else self.near, entry)

    def pop(self) -> Entry:
        near, far = self.near, self.far
        if near and (not far or near[0] <= far[0]):
            return heapq.heappop(near)
        return heapq.heappop(far)

    def cancelled(self, count: int, rollouts: Rollouts) -> None:
        """`count` entries went stale (their deadlines were met, cancelled or dropped)."""
        self.stale += count
        size = len(self.near) + len(self.far)
        if size >= COMPACT_MIN and self.stale * 2 > size:
            self.near = _live(self.near, rollouts)
            self.far = _live(self.far, rollouts)
            self.stale = 0
            self.compactions += 1

    def popped_stale(self) -> None:
        """A stale entry left the heap on its own."""
        if self.stale > 0:
            self.stale -= 1

    def extend(self, entries: list[Entry], now: float) -> None:
        """Add many entries at once (a restore at clock `now`)."""
        for entry in entries:
            (self.far if entry[0] - now > NEAR_S else self.near).append(entry)
        heapq.heapify(self.near)
        heapq.heapify(self.far)


class Parked:
    """Due deadlines that wait for a feed: one lagging (held), or one whose watermark has not
    passed them yet. Kept aside per feed, earliest first, so that a long catch-up does not pop
    and push each of them again on every batch; `None` is the shared floor of every feed."""

    def __init__(self) -> None:
        self._by_feed: dict[Partition | None, list[Entry]] = {}

    def __bool__(self) -> bool:
        return bool(self._by_feed)

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_feed.values())

    def park(self, feed: Partition | None, entry: Entry) -> None:
        heapq.heappush(self._by_feed.setdefault(feed, []), entry)

    def release(
        self,
        held: Collection[Partition],
        marks: Watermarks | None,
        heap: DeadlineHeap,
        now: float,
    ) -> None:
        """Back into `heap`, every entry whose feed is no longer held and, with watermarks,
        due before that feed's watermark (the heap's loop checks the rollout again)."""
        for feed in [feed for feed in self._by_feed if feed not in held]:
            entries = self._by_feed[feed]
            limit = math.inf
            if marks is not None:
                limit = marks.floor if feed is None else marks.of(feed)
            while entries and entries[0][0] < limit:
                heap.push(heapq.heappop(entries), now)
            if not entries:
                del self._by_feed[feed]

    def forget(self, feeds: Collection[Partition]) -> None:
        for feed in feeds:
            self._by_feed.pop(feed, None)


def _live(entries: list[Entry], rollouts: Rollouts) -> list[Entry]:
    kept = [entry for entry in entries if live_rollout(rollouts, entry)]
    heapq.heapify(kept)
    return kept
