"""When a live deadline may fire: how far each partition is known to have got in event time.

Contract section 4 ("Live, with several partitions"): a deadline `D` of a rollout fires only
when every partition that can feed that rollout has either read a record with an event time
later than `D`, or is caught up, proven by a broker answer given after `D` had passed. So a
partition's *watermark* is the later of the two: the largest event time read on it, and the
wall time as of which the broker last showed it caught up. Deadlines before the watermark may
fire; the others wait, and a broker that does not answer proves nothing, so nothing fires.

An idle partition (reachable, no records) stops holding the others back through the second
term, as streaming engines mark idle inputs: each broker answer that finds it caught up moves
its watermark to when that answer was given. Pure: the times are handed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sentinel.core.events.records import Partition

_NEVER: Final = float("-inf")


@dataclass(frozen=True, slots=True)
class Answer:
    """What the broker last said of one partition, as the source saw it."""

    end: int | None  # the partition's end offset (high-water mark); None before any answer
    position: int | None  # the next offset the consumer hands over
    # A wall time the answer is known to have been given after; None when it proves nothing
    # (no answer yet, or one too soon after the broker came back: see sentinel.kafka.source).
    since: float | None

    @property
    def lag(self) -> int | None:
        """Records written and not yet handed over, as of the answer."""
        if self.end is None or self.position is None:
            return None
        return max(0, self.end - self.position)


class Watermarks:
    """Per partition read live: the event time up to which no unread record can be waiting.

    `shared`: any partition may carry any rollout's next event (input not keyed by rollout),
    so every rollout waits for the slowest partition. Otherwise a rollout waits only for the
    partitions that fed it (`RolloutState.feeds`: its home, in a keyed or repartitioned topic).
    """

    def __init__(self, shared: bool = True) -> None:
        self.shared = shared
        self._marks: dict[Partition, float] = {}
        self._floor = _NEVER
        self._stale = False  # the floor must be computed again

    def assign(self, partitions: Iterable[Partition]) -> None:
        """Start tracking `partitions`: nothing is known of them yet."""
        for partition in partitions:
            self._marks.setdefault(partition, _NEVER)
        self._stale = True

    def revoke(self, partitions: Iterable[Partition]) -> None:
        for partition in partitions:
            self._marks.pop(partition, None)
        self._stale = True

    def read(self, partition: Partition, event_time: float) -> None:
        """A record of `partition` with this event time was read (once per timed record)."""
        mark = self._marks.get(partition, _NEVER)
        if event_time > mark:
            self._marks[partition] = event_time
            if mark <= self._floor:
                self._stale = True

    def answered(self, answers: Mapping[Partition, Answer]) -> None:
        """The broker's last answers: a partition whose every record up to the end offset was
        handed over is caught up as of the time its answer is known to postdate."""
        for partition, answer in answers.items():
            since, end, position = answer.since, answer.end, answer.position
            if since is None or end is None or position is None or position < end:
                continue
            if partition in self._marks and since > self._marks[partition]:
                self._marks[partition] = since
                self._stale = True

    def of(self, partition: Partition) -> float:
        return self._marks.get(partition, _NEVER)

    @property
    def floor(self) -> float:
        """The slowest partition's watermark; -inf while none is read (nothing may fire)."""
        if self._stale:
            self._floor = min(self._marks.values(), default=_NEVER)
            self._stale = False
        return self._floor

    def limit(self, feeds: Sequence[Partition]) -> float:
        """Deadlines of a rollout fed by `feeds` may fire strictly before this."""
        if self.shared or not feeds:
            return self.floor
        limit = math.inf
        for feed in feeds:
            mark = self._marks.get(feed, _NEVER)
            limit = min(limit, mark)
        return limit

    def slowest(self, feeds: Sequence[Partition]) -> Partition | None:
        """The feed whose watermark `limit` is (None when shared: every partition is)."""
        if self.shared or not feeds:
            return None
        return min(feeds, key=self.of)

    def snapshot(self) -> dict[Partition, float]:
        """Every partition's watermark, for /readyz."""
        return dict(self._marks)
