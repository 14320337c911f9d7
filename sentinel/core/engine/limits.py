"""The bounds that keep the sentinel's memory finite whatever the bus sends (`limits:` in the
config file), and how a finding echoes an event's value within them.

Each default is sized for the Helm chart's 512 MiB limit (docs/operations.md, "Bounds"):
about 1.9 kB per open rollout in memory, 1.4 kB with a state file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

# Read by sentinel.configkit: a bound of 0 would refuse everything.
AT_LEAST_ONE: Final = {"minimum": 1}


@dataclass(frozen=True)
class Limits:
    """What the engine keeps at most; `limits:` in the config file."""

    # Open rollouts, in all and of one expectation: beyond them a new rollout is not opened
    # (the ones already open are kept) and a `capacity` finding says so.
    open_rollouts: int = field(default=100_000, metadata=AT_LEAST_ONE)
    open_rollouts_per_expectation: int = field(default=50_000, metadata=AT_LEAST_ONE)
    # Findings kept with one rollout (its page, the history); later ones are still told.
    findings_per_rollout: int = field(default=200, metadata=AT_LEAST_ONE)
    # On-call actions kept with one rollout (acknowledge, snooze, note, abandon); beyond it
    # an action is refused, saying so.
    actions_per_rollout: int = field(default=100, metadata=AT_LEAST_ONE)
    # Distinct event types reported `unregistered_event` and remembered; beyond them a new
    # type is counted, not told (a producer with an id in its type names makes thousands).
    unknown_types: int = field(default=10_000, metadata=AT_LEAST_ONE)
    # Bytes of an event's value echoed in one `schema_violation` message, and the messages.
    echoed_value_bytes: int = field(default=1024, metadata=AT_LEAST_ONE)
    errors_per_violation: int = field(default=20, metadata=AT_LEAST_ONE)


DEFAULT_LIMITS: Final = Limits()


def echoed(errors: Iterable[str], limits: Limits = DEFAULT_LIMITS) -> tuple[str, ...]:
    """A validator's messages as a finding repeats them: each cut to `echoed_value_bytes` (a
    message quotes the invalid value, which may be megabytes), at most `errors_per_violation`."""
    most, size = limits.errors_per_violation, limits.echoed_value_bytes
    kept: list[str] = []
    count = 0
    for error in errors:
        count += 1
        if len(kept) < most:
            kept.append(_cut(error, size))
    if count > most:
        kept.append(f"... and {count - most} more")
    return tuple(kept)


def _cut(text: str, size: int) -> str:
    if len(text.encode("utf-8", "surrogatepass")) <= size:
        return text
    cut = text.encode("utf-8", "surrogatepass")[:size].decode("utf-8", "ignore")
    return f"{cut}... ({len(text):,} characters in all)"
