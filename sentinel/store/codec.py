"""One compact byte form of a rollout's state, for every store that writes it to disk or Kafka."""

from __future__ import annotations

from dataclasses import replace

import orjson

from sentinel.engine import RolloutState
from sentinel.errors import StoreError
from sentinel.views import Phase


def dump_body(rollout: RolloutState) -> bytes:
    """Everything but the expectation, key, phase and closed time (the store's own columns).

    A JSON array, not an object: field names would be most of the bytes of a small rollout.
    """
    return orjson.dumps(
        [
            rollout.opened_at,
            rollout.seen,
            rollout.due,
            rollout.stalled,
            rollout.remaining,
            rollout.deadline_at,
            rollout.rollback,
            rollout.feeds,
        ]
    )


def load_rollout(
    expectation: str, key: str, phase: str, closed_at: float | None, body: bytes
) -> RolloutState:
    """The rollout written by `dump_body`; StoreError when the bytes are not one."""
    try:
        opened_at, seen, due, stalled, remaining, deadline_at, rollback, feeds = orjson.loads(body)
        return RolloutState(
            expectation=expectation,
            key=key,
            opened_at=float(opened_at),
            phase=Phase(phase),
            seen={str(step): float(at) for step, at in seen.items()},
            due={str(step): float(at) for step, at in due.items()},
            stalled=tuple(str(step) for step in stalled),
            remaining=int(remaining),
            deadline_at=None if deadline_at is None else float(deadline_at),
            rollback=None if rollback is None else str(rollback),
            closed_at=None if closed_at is None else float(closed_at),
            feeds=tuple(str(feed) for feed in feeds),
        )
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as error:
        raise StoreError(
            f"the stored state of rollout {expectation}/{key} is damaged ({error}): "
            "move the state file away to start from Kafka's committed offsets"
        ) from None


def copy_rollout(rollout: RolloutState) -> RolloutState:
    """A copy that shares nothing mutable: the engine changes its rollouts in place."""
    return replace(rollout, seen=dict(rollout.seen), due=dict(rollout.due))
