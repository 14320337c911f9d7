"""The words and symbols that the board, the rollout page and the report share, so a state
reads the same everywhere and never by colour alone. Purely computational; plain text out
(each renderer escapes it for its own format)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import orjson

from sentinel.alerting.alert_words import OVERDUE_WORDS_AFTER
from sentinel.core.durations import format_duration
from sentinel.core.engine.kinds import KINDS, sentence, spec_of
from sentinel.core.timefmt import format_rfc3339, parse_rfc3339

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
    "abandoned": ("⊘", "abandoned"),  # a person called it off (contract section 14)
}
# A rollout's open problems (a summary's `problems`) and a finding's kind:
# sentinel.core.engine.kinds.
PROBLEMS = {str(kind): (spec.symbol, spec.title.lower()) for kind, spec in KINDS.items()}


def most_stalled(figures: Mapping[str, Any]) -> str:
    """An expectation's report figures' step that stalls most, and whose: `-` when none."""
    most = figures["most_stalled_step"]
    if most is None:
        return "-"
    owner = f" ({most['owner']})" if most["owner"] else ""
    return f"{most['step']}{owner}: {most['stalls']} stall(s)"


def kind_label(kind: str) -> tuple[str, str]:
    """(symbol, word) of a finding kind, lower case as the board's other words."""
    return PROBLEMS.get(kind, ("⚠", kind.replace("_", " ")))  # unknown: not good news


def is_good(kind: str) -> bool:
    """Good news (completed, recovered, rolled back): the board shows it calm, not as a problem."""
    spec = spec_of(kind)
    return spec is not None and spec.good


@cache
def kinds_json() -> str:
    """Each kind's board words for the page (`data-kinds`), so the script says what this says."""
    words = {
        str(kind): {"symbol": spec.symbol, "word": spec.title.lower(), "good": spec.good}
        for kind, spec in KINDS.items()
    }
    return orjson.dumps(words).decode()


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


def overdue_text(due: str, clock: float) -> str:
    """A stalled step's countdown: `due 10:10:00, nothing seen yet` in its first minute (never
    "overdue 0s", as the alerts: alert_words.OVERDUE_WORDS_AFTER), then `overdue 4m12s`. The
    board's script ticks the same words (render.js, `tickText`)."""
    late = clock - parse_rfc3339(due)
    if late < OVERDUE_WORDS_AFTER:
        return f"due {clock_text(due, clock)}, nothing seen yet"
    return f"overdue {short_duration(late)}"


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
        return overdue_text(step["due"], clock)
    if state == "due" and due is not None:
        if due <= clock:
            return f"window passed {short_duration(clock - due)} ago"
        return f"due in {short_duration(due - clock)}"
    if state == "due":
        return "no window"
    if state == "pending":
        return f"after {', '.join(step['after'])}" if step["after"] else "waits for its event"
    return "off the script (rolled back or abandoned)"


def describe_finding(finding: Mapping[str, Any], clock: float | None = None) -> str:
    """The finding's sentence (sentinel.core.engine.kinds), without its time or kind; times
    short when `clock` is given (as `clock_text` writes them), else RFC 3339."""
    if clock is None:
        return sentence(finding, str)
    return sentence(finding, lambda time: clock_text(time, clock))
