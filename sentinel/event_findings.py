"""Findings about one event rather than a rollout (schema, registration, correlation): which
expectation and owner they name, so the alert reaches the team that waits for the event."""

from __future__ import annotations

from collections.abc import Sequence

from sentinel.envelope import MISSING, Envelope, correlation_key
from sentinel.expectations import Expectation
from sentinel.findings import Finding, Kind


def event_finding(kind: Kind, event: Envelope, clock: float, **extra: object) -> Finding:
    """A finding about `event` raised at `clock`."""
    return Finding(
        kind,
        clock,
        event_type=event.type,
        event_id=event.id,
        # Without an id, the event is only known by where it was read (finding ids need it).
        event_source=event.source if event.id is not None else event.origin,
        **extra,  # type: ignore[arg-type]
    )


def schema_violation(
    event: Envelope, errors: list[str], interested: Sequence[Expectation], clock: float
) -> Finding:
    """Names the first expectation that waits for this type, and its rollout and owner."""
    expectation = rollout = owner = None
    if interested:
        exp = interested[0]
        expectation, owner = exp.name, exp.owner_of(event.type)
        rollout = correlation_key(event.lookup(exp.correlate_path))
    return event_finding(
        Kind.SCHEMA_VIOLATION,
        event,
        clock,
        errors=tuple(errors),
        expectation=expectation,
        rollout=rollout,
        owner=owner,
    )


def uncorrelated(exp: Expectation, event: Envelope, clock: float) -> Finding:
    """An event of a type `exp` names, without a rollout key at its `correlate` path."""
    found = event.lookup(exp.correlate_path)
    problem = "is missing" if found is MISSING else "is not a string or number"
    return event_finding(
        Kind.UNCORRELATED,
        event,
        clock,
        expectation=exp.name,
        owner=exp.owner_of(event.type),
        reason=f"{exp.correlate} {problem}",
    )
