"""What `sentinel learn` tells people: the summary of a log, and the report of `--against`.

Long lists (rollouts that broke the order, rollouts still open) show their first few entries
and say how many more there are. Purely computational: lines of text.
"""

from __future__ import annotations

from collections.abc import Sequence

from sentinel.core.durations import format_duration
from sentinel.learning.model import Comparison, LearnedExpectation, LearnResult, Reading

SHOWN = 10
_TITLES = {
    "undeclared_dependency": "dependency seen but not declared",
    "unseen_dependency": "dependency declared but not seen",
    "short_window": "window shorter than the bus",
    "missing_step": "step that never occurs",
}


def summary(result: LearnResult) -> list[str]:
    """The summary for people: what was read, what was learned, which rollouts to read."""
    lines = [_read_line(result.reading)]
    if result.paths:
        lines.append(f"correlation: {', '.join(result.paths)}")
    else:
        lines.append(
            "correlation: no field groups events of two or more types; name one with"
            " --correlate (e.g. --correlate data.rollout_id)"
        )
    if result.paths and not result.expectations:
        lines.append(
            f"nothing learned: no two event types share rollouts on {', '.join(result.paths)}"
        )
    for expectation in result.expectations:
        lines.extend(_expectation(expectation))
    lines.extend(_ignored(result.reading))
    return lines


def report(comparisons: Sequence[Comparison]) -> list[str]:
    """One line per difference, each starting with the expectation's `path:line:`."""
    lines = []
    for comparison in comparisons:
        lines.append(
            f"{comparison.origin}: {comparison.name}: {_count(comparison.rollouts, 'rollout')}"
            f" on {comparison.correlate}, {_count(len(comparison.differences), 'difference')}"
        )
        for difference in comparison.differences:
            title = _TITLES[difference.kind]
            lines.append(f"{comparison.origin}: {comparison.name}: {title}: {difference.text}")
    return lines


def _read_line(reading: Reading) -> str:
    parts = [_count(reading.events, "event")]
    if reading.malformed:
        examples = "; ".join(reading.malformed_examples)
        parts.append(f"{reading.malformed} malformed ({examples})")
    if reading.undated:
        parts.append(f"{reading.undated} without a time before any time was read")
    text = f"read {_count(reading.records, 'record')}: {', '.join(parts)}"
    if reading.earliest is not None and reading.latest is not None:
        text += f", over {format_duration(reading.latest - reading.earliest)}"
    return text


def _expectation(exp: LearnedExpectation) -> list[str]:
    edges = sum(len(step.after) for step in exp.steps)
    lines = [
        f"{exp.name} (on {exp.correlate}): {_count(exp.rollouts, 'rollout')}:"
        f" {exp.completed} completed, {exp.rolled_back} rolled back,"
        f" {len(exp.open)} open at the end of the log",
        f"  {_count(len(exp.steps), 'step')}, {_count(edges, 'prerequisite')} (minimum support"
        f" {exp.min_support:.0%}), {_count(len(exp.compensations), 'compensation')}, deadline"
        f" {format_duration(exp.deadline) if exp.deadline is not None else 'none'}",
    ]
    broken = [f"{b.rollout} ({b.step} before {', '.join(b.missing)})" for b in exp.broken]
    lines.append(f"  broke the learned order (worth reading): {_some(broken)}")
    for weak in exp.weak[:SHOWN]:
        lines.append(
            f"  below the minimum support: {weak.then} after {weak.first} in {weak.before} of"
            f" {weak.both} rollouts ({weak.before / weak.both:.0%}); the other way round:"
            f" {_some(list(weak.reversed))}"
        )
    if exp.left_out:
        rare = [f"{left.event} ({left.seen} of {left.of})" for left in exp.left_out]
        lines.append(f"  left out, in too few rollouts to be a step: {_some(rare)}")
    if exp.open:
        lines.append(f"  open: {_some(list(exp.open))}")
    return lines


def _ignored(reading: Reading) -> list[str]:
    lines = []
    if reading.unkeyed:
        counts = [f"{name} {count}" for name, count in reading.unkeyed]
        total = sum(count for _, count in reading.unkeyed)
        lines.append(f"ignored: {_count(total, 'event')} without a rollout key: {_some(counts)}")
    if reading.unrelated:
        counts = [f"{name} {count}" for name, count in reading.unrelated]
        total = sum(count for _, count in reading.unrelated)
        lines.append(f"ignored: {_count(total, 'event')} of unrelated types: {_some(counts)}")
    return lines


def _some(items: list[str]) -> str:
    if not items:
        return "none"
    shown = ", ".join(items[:SHOWN])
    more = len(items) - SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
