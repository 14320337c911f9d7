"""How an on-call action changes the engine (contract section 14): kept with its rollout, and
an `abandon` closing it with one `abandoned` finding. Beside the engine rather than in it:
the engine's own work is events and time; an action is a person's, taken between batches."""

from __future__ import annotations

from dataclasses import replace

from sentinel.core.engine.actions import Action, Verb, check_action
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.finding_factory import rollout_finding
from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.snapshots import Phase


def act(engine: Engine, expectation: str, key: str, action: Action) -> list[Finding]:
    """Take what a person did about one rollout the engine holds, kept with it in order and
    the rollout marked changed; `abandon` closes it with one `abandoned` finding (the only
    finding an action makes). Acknowledge, snooze and abandon take an open rollout; a note
    also takes a closed one still held (until `engine.closed_retention` forgets it).

    Raises ActionRefused, changing nothing, when the rollout cannot take it. The engine's
    clock does not move: `action.at` is a person's wall clock, not the stream's time, so the
    finding is at the engine's clock (the last batch's)."""
    rollout = engine.rollouts.get(expectation, {}).get(key)
    is_open = None if rollout is None else rollout.closed_at is None
    held = 0 if rollout is None else len(rollout.actions)
    check_action(action, expectation, key, is_open, held, engine.limits.actions_per_rollout)
    assert rollout is not None  # checked: an unknown rollout is refused
    rollout.actions = (*rollout.actions, action)
    engine.changed.add((expectation, key))
    if action.verb is not Verb.ABANDON:
        return []
    duration = max(0.0, engine.clock - rollout.opened_at)
    engine.close(rollout, Phase.ABANDONED, duration)
    exp = engine.expectations[expectation]
    finding = rollout_finding(
        Kind.ABANDONED, exp, rollout, None, engine.clock, engine.tracing.url, duration_s=duration
    )
    return [replace(finding, reason=abandoned_by(action))]


def abandoned_by(action: Action) -> str:
    """The `abandoned` finding's reason: who called the rollout off, where, and why."""
    where = "Slack" if action.via == "slack" else "the board"
    called = f"called off by {action.by} on {where}"
    return f"{called}: {action.note}" if action.note else called
