"""The words and symbols that the board, the rollout page and the report share, so a state
reads the same everywhere and never by colour alone. Purely computational; plain text out
(each renderer escapes it for its own format)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sentinel.durations import format_duration
from sentinel.timefmt import format_rfc3339, parse_rfc3339

# state -> (symbol, word); the CSS colours by the same names (`state-stalled`, ...).
STEP_STATES = {
    "seen": ("✓", "seen"),
    "due": ("◷", "due"),
    "stalled": ("⚠", "stalled"),
    "pending": ("○", "pending"),
    "cancelled": ("⊘", "cancelled"),
}
PHASES = {
    "open": ("●", "open"),
    "rolling_back": ("↺", "rolling back"),
    "completed": ("✓", "completed"),
    "rolled_back": ("↩", "rolled back"),
}
PROBLEMS = {
    "stall": ("⚠", "stall"),
    "deadline_exceeded": ("⏱", "deadline exceeded"),
    "rollback": ("↺", "rollback"),
}
# Finding kinds: problems get a warning sign, good news a tick.
GOOD_KINDS = frozenset({"completed", "recovered", "rolled_back"})


def most_stalled(figures: Mapping[str, Any]) -> str:
    """An expectation's report figures' step that stalls most, and whose: `-` when none."""
    most = figures["most_stalled_step"]
    if most is None:
        return "-"
    owner = f" ({most['owner']})" if most["owner"] else ""
    return f"{most['step']}{owner}: {most['stalls']} stall(s)"


def kind_label(kind: str) -> tuple[str, str]:
    """(symbol, word) of a finding kind."""
    return ("✓" if kind in GOOD_KINDS else "⚠"), kind.replace("_", " ")


def short_duration(seconds: float) -> str:
    """The two largest units, for a glance: 252 -> `4m12s`, 5430 -> `1h30m`."""
    text = format_duration(max(0.0, seconds)) if seconds >= 1 else "0s"
    pieces: list[str] = []
    number = ""
    for char in text:
        number += char
        if not char.isdigit():
            pieces.append(number)
            number = ""
    return "".join(pieces[:2])


def epoch(time: str | None) -> float | None:
    """Epoch seconds of an API time (RFC 3339 or null)."""
    return None if time is None else parse_rfc3339(time)


def clock_text(time: str | None, clock: float) -> str:
    """`10:06:00` on the clock's day, `2026-11-24 10:06` on another; `-` when absent (UTC)."""
    if time is None:
        return "-"
    stamp = format_rfc3339(parse_rfc3339(time))
    if stamp[:10] == format_rfc3339(clock)[:10]:
        return stamp[11:19]
    return f"{stamp[:10]} {stamp[11:16]}"


def node_status(step: Mapping[str, Any], clock: float) -> str:
    """A step's state in a few words that do not go stale: absolute times, no countdown."""
    symbol, word = STEP_STATES.get(step["state"], ("•", step["state"]))
    if step.get("seen_at"):
        return f"{symbol} {word} {clock_text(step['seen_at'], clock)}"
    if step["state"] == "stalled" and step.get("due"):
        return f"{symbol} {word} since {clock_text(step['due'], clock)}"
    if step["state"] == "due" and step.get("due"):
        return f"{symbol} {word} by {clock_text(step['due'], clock)}"
    return f"{symbol} {word}"


def step_detail(step: Mapping[str, Any], clock: float) -> str:
    """What a person wants to know about a step now: when seen, due in, overdue by, waits for."""
    state = step["state"]
    due = epoch(step["due"])
    if state == "seen":
        late = " (after its stall)" if step.get("stalled") else ""
        return f"at {clock_text(step['seen_at'], clock)}{late}"
    if state == "stalled" and due is not None:
        return f"overdue {short_duration(clock - due)}"
    if state == "due" and due is not None:
        if due <= clock:
            return f"window passed {short_duration(clock - due)} ago"
        return f"due in {short_duration(due - clock)}"
    if state == "due":
        return "no window"
    if state == "pending":
        return f"after {', '.join(step['after'])}" if step["after"] else "waits for its event"
    return "off the script (rollback)"


def describe_finding(finding: Mapping[str, Any], clock: float | None = None) -> str:
    """One sentence about a finding, without its time or kind; times short when `clock` is
    given (as `clock_text` writes them), else RFC 3339."""
    kind = finding["kind"]
    step = finding.get("step") or ""
    if kind == "stall":
        deadline = finding.get("deadline")
        if deadline and clock is not None:
            deadline = clock_text(deadline, clock)
        when = f", due {deadline}" if deadline else ""
        return f"{step} not seen{when}"
    if kind == "recovered":
        return f"{step} arrived after its stall"
    if kind == "out_of_order":
        return f"{step} seen before {', '.join(finding.get('missing') or ())}"
    if kind == "deadline_exceeded":
        return "the rollout's deadline passed before it completed"
    if kind == "rollback":
        return f"{finding.get('event_type') or 'a trigger'} started a rollback"
    if kind in ("completed", "rolled_back"):
        verb = "completed" if kind == "completed" else "rolled back"
        return f"{verb} in {format_duration(finding.get('duration_s') or 0)}"
    if kind == "schema_violation":
        return f"{finding.get('event_type')}: {'; '.join(finding.get('errors') or ())}"
    if kind == "schema_changed":
        return (
            f"{finding.get('event_type')} now written with schema {finding.get('schema_id')},"
            f" was {finding.get('previous_schema_id')}"
        )
    if kind == "schema_not_found":
        return f"{finding.get('event_type')}: the registry has no schema {finding.get('schema_id')}"
    if kind in ("uncorrelated", "malformed", "bus_silent", "capacity"):
        return str(finding.get("reason") or "")
    return str(finding.get("event_type") or finding.get("reason") or "")
