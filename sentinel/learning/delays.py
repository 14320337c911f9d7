"""Observed delays summed up, and the readable window proposed from them (contract section 12).

A proposed window sits above the 99th percentile of what the bus showed, with some headroom,
rounded up to a duration a person would write (`15m`, not `13m47s`). Purely computational.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from sentinel.core.durations import format_duration

# A window exactly at the 99th percentile alarms on the next rollout that is a little slower
# than any seen so far; a fifth more is what an experienced owner would add by hand.
HEADROOM = 1.2
_M, _H, _D = 60.0, 3600.0, 86400.0
# The durations people write; above the last one, whole weeks.
_LADDER = (
    1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0,
    _M, 2 * _M, 3 * _M, 4 * _M, 5 * _M, 6 * _M, 8 * _M, 10 * _M, 12 * _M, 15 * _M, 20 * _M,
    25 * _M, 30 * _M, 40 * _M, 45 * _M,
    _H, 1.5 * _H, 2 * _H, 3 * _H, 4 * _H, 5 * _H, 6 * _H, 8 * _H, 10 * _H, 12 * _H, 18 * _H,
    _D, 1.5 * _D, 2 * _D, 3 * _D, 4 * _D, 5 * _D, 7 * _D,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Delays:
    """How long something took over the rollouts that showed it (seconds)."""

    count: int
    p50: float
    p90: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Delays | None:
        """The summary of `values`, or None when there is none."""
        ordered = sorted(values)
        if not ordered:
            return None
        return cls(
            len(ordered),
            percentile(ordered, 0.50),
            percentile(ordered, 0.90),
            percentile(ordered, 0.99),
            ordered[-1],
        )

    def describe(self) -> str:
        """`p50 4m, p90 12m, p99 12m, max 12m`, for a comment or a message."""
        return (
            f"p50 {format_duration(self.p50)}, p90 {format_duration(self.p90)},"
            f" p99 {format_duration(self.p99)}, max {format_duration(self.max)}"
        )


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest rank: a value that was observed, never one interpolated between two."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def readable_ceil(seconds: float) -> float:
    """The smallest readable duration at or above `seconds` (at least one second)."""
    for step in _LADDER:
        if step >= seconds:
            return step
    return math.ceil(seconds / (7 * _D)) * 7 * _D


def propose_window(delays: Delays) -> float:
    """A window above the 99th percentile, with headroom, rounded up to a readable duration."""
    return readable_ceil(delays.p99 * HEADROOM)
