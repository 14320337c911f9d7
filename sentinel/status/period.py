"""The period an audit report covers: rollouts opened in it, both ends optional."""

from __future__ import annotations

from dataclasses import dataclass

from sentinel.core.timefmt import format_rfc3339


@dataclass(frozen=True, slots=True)
class Period:
    """`start` inclusive, `end` exclusive, epoch seconds; None leaves that side open."""

    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("the period ends before it starts")

    def holds(self, moment: float) -> bool:
        return (self.start is None or moment >= self.start) and (
            self.end is None or moment < self.end
        )

    def describe(self) -> str:
        """`2026-11-25T00:00:00Z to 2026-11-26T00:00:00Z`, "the start" or "the end" when open."""
        start = "the start" if self.start is None else format_rfc3339(self.start)
        end = "the end" if self.end is None else format_rfc3339(self.end)
        return f"{start} to {end}"
