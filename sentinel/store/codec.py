"""One compact byte form of a rollout's state, for every store that writes it to disk or Kafka."""

from __future__ import annotations

import orjson

from sentinel.engine import RolloutState
from sentinel.errors import StoreError
from sentinel.views import Phase

_PHASES = {str(phase): phase for phase in Phase}


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
    """The rollout written by `dump_body`; StoreError when the bytes are not one.

    Checked for shape, not value by value: this runs 100,000 times on a restore, and the
    bytes are our own (a damaged page is caught by SQLite or by the JSON parser).
    """
    try:
        opened_at, seen, due, stalled, remaining, deadline_at, rollback, feeds = orjson.loads(body)
        if not (isinstance(seen, dict) and isinstance(due, dict)):
            raise TypeError("seen and due are not objects")
        return RolloutState(
            expectation,
            key,
            opened_at,
            _PHASES[phase],
            seen,
            due,
            tuple(stalled),
            remaining,
            deadline_at,
            rollback,
            closed_at,
            tuple(feeds),
        )
    except (orjson.JSONDecodeError, TypeError, ValueError, KeyError) as error:
        raise StoreError(
            f"the stored state of rollout {expectation}/{key} is damaged ({error!r}): "
            "move the state file away to start from Kafka's committed offsets"
        ) from None
