"""Plain data passed between the alerting parts, and its JSON form for the on-disk outbox."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sentinel.findings import Finding, Kind
from sentinel.views import Phase, RolloutView, StepStatus


@dataclass(frozen=True, slots=True)
class Held:
    """A finding waiting, for one sink, in a grouping window that closes at `close_at`."""

    key: str  # idempotency: finding id + sink
    sink: str
    bucket: str  # findings of one bucket close together and may share one message
    destination: str  # the Slack channel its owner routes to; "" for other sinks
    opens: bool  # may open a new message; false for good news about a rollout never alerted
    finding: Finding
    view: RolloutView | None
    held_at: float
    close_at: float


@dataclass(frozen=True, slots=True)
class Item:
    """One delivery for one sink: a Slack call, a webhook POST, a list of Alertmanager alerts."""

    key: str  # idempotency: finding id(s) + sink + purpose
    sink: str
    payload: Mapping[str, Any]
    enqueued_at: float  # when its first finding entered the outbox
    attempts: int = 0
    next_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Thread:
    """What one sink remembers about one alerted rollout (Slack: where its parent message is)."""

    channel: str  # as routed at first; the channel id Slack answered once posted
    ts: str | None = None  # the parent message's ts, once posted
    shared: bool = False  # the parent lists several rollouts: reply only, never update it
    failed: bool = False  # the parent could not be posted: replies go to the channel
    opened_at: float = 0.0
    resolved_at: float | None = None
    # Alertmanager: the alerts still firing, re-sent until resolved.
    firing: tuple[Mapping[str, Any], ...] = ()
    # Slack: the findings so far, one line each, so the updated parent still shows the first.
    history: tuple[str, ...] = ()


def thread_key(expectation: str | None, rollout: str | None) -> str:
    # Expectation names never contain "/", so the first "/" separates the two.
    return f"{expectation or ''}/{rollout or ''}"


def item_key(findings: Iterable[Finding], sink: str, purpose: str) -> str:
    """Finding id (or a digest of several) + sink + purpose: the same alert is enqueued once."""
    ids = sorted({finding.id for finding in findings})
    ident = ids[0] if len(ids) == 1 else hashlib.sha256("+".join(ids).encode()).hexdigest()[:24]
    return f"{ident}:{sink}:{purpose}"


def finding_to_json(finding: Finding) -> dict[str, Any]:
    # Epoch floats, not RFC 3339: the id of a bus_silent finding depends on `at` exactly.
    return {
        "kind": str(finding.kind),
        "at": finding.at,
        "expectation": finding.expectation,
        "rollout": finding.rollout,
        "step": finding.step,
        "owner": finding.owner,
        "event_type": finding.event_type,
        "event_id": finding.event_id,
        "deadline": finding.deadline,
        "missing": None if finding.missing is None else list(finding.missing),
        "errors": None if finding.errors is None else list(finding.errors),
        "duration_s": finding.duration_s,
        "reason": finding.reason,
        "event_source": finding.event_source,
    }


def finding_from_json(data: Mapping[str, Any]) -> Finding:
    return Finding(
        kind=Kind(data["kind"]),
        at=data["at"],
        expectation=data["expectation"],
        rollout=data["rollout"],
        step=data["step"],
        owner=data["owner"],
        event_type=data["event_type"],
        event_id=data["event_id"],
        deadline=data["deadline"],
        missing=None if data["missing"] is None else tuple(data["missing"]),
        errors=None if data["errors"] is None else tuple(data["errors"]),
        duration_s=data["duration_s"],
        reason=data["reason"],
        event_source=data["event_source"],
    )


def view_to_json(view: RolloutView) -> dict[str, Any]:
    return {
        "expectation": view.expectation,
        "rollout": view.rollout,
        "owner": view.owner,
        "phase": str(view.phase),
        "opened_at": view.opened_at,
        "deadline_at": view.deadline_at,
        "steps": [_step_to_json(step) for step in view.steps],
        "compensation": None if view.compensation is None else _step_to_json(view.compensation),
        "closed_at": view.closed_at,
    }


def view_from_json(data: Mapping[str, Any]) -> RolloutView:
    return RolloutView(
        expectation=data["expectation"],
        rollout=data["rollout"],
        owner=data["owner"],
        phase=Phase(data["phase"]),
        opened_at=data["opened_at"],
        deadline_at=data["deadline_at"],
        steps=tuple(_step_from_json(step) for step in data["steps"]),
        compensation=(
            None if data["compensation"] is None else _step_from_json(data["compensation"])
        ),
        closed_at=data["closed_at"],
    )


def _step_to_json(step: StepStatus) -> dict[str, Any]:
    return {
        "step": step.step,
        "owner": step.owner,
        "after": list(step.after),
        "seen_at": step.seen_at,
        "due_at": step.due_at,
        "stalled": step.stalled,
    }


def _step_from_json(data: Mapping[str, Any]) -> StepStatus:
    return StepStatus(
        step=data["step"],
        owner=data["owner"],
        after=tuple(data["after"]),
        seen_at=data["seen_at"],
        due_at=data["due_at"],
        stalled=data["stalled"],
    )
