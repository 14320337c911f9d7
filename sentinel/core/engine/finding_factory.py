"""How the engine words a finding: about a rollout (its expectation, key, step and the step's
owner), or about one event (schemas, registration, correlation), naming the expectation and
owner that wait for it, so that the alert reaches the right team."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.limits import DEFAULT_LIMITS, Limits, echoed
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.tracing import (
    distinct_traces,
    event_contexts,
    finding_span_id,
    link_values,
    trace_id_of,
    trace_link,
)
from sentinel.core.events.envelope import MISSING, Envelope, correlation_key
from sentinel.core.rules.expectations import Expectation

if TYPE_CHECKING:  # only a type here; sentinel.core.engine.writer_schemas builds on this module
    from sentinel.core.engine.writer_schemas import Writer


def rollout_finding(
    kind: Kind,
    exp: Expectation,
    rollout: RolloutState,
    step: str | None,
    clock: float,
    trace_url: str | None = None,
    *,
    deadline: float | None = None,
    missing: tuple[str, ...] | None = None,
    duration_s: float | None = None,
    event: Envelope | None = None,
) -> Finding:
    """A finding about one rollout of `exp`, told to the step's owner (else the expectation's),
    in the rollout's trace, naming the producers' traces behind it; with `trace_url`, the
    template of its link."""
    trace_id = trace_id_of(exp.name, rollout.key, rollout.opened_at)
    finding = Finding(
        kind,
        clock,
        expectation=exp.name,
        rollout=rollout.key,
        step=step,
        owner=exp.owner_of(step),
        event_type=None if event is None else event.type,
        event_id=None if event is None else event.id,
        deadline=deadline,
        missing=missing,
        duration_s=duration_s,
        event_source=None if event is None else event.source,
        trace_id=trace_id,
        event_trace_ids=distinct_traces(_behind(kind, exp, rollout, step, event)),
    )
    if trace_url is None:
        return finding
    end = rollout.closed_at if rollout.closed_at is not None else clock
    span = finding_span_id(finding.id)
    values = link_values(trace_id, span, exp.name, rollout.key, step, rollout.opened_at, end)
    return replace(finding, trace_url=trace_link(trace_url, values))


def _behind(
    kind: Kind, exp: Expectation, rollout: RolloutState, step: str | None, event: Envelope | None
) -> list[tuple[str | None, str | None]]:
    """The contexts behind a finding: a stall's, its prerequisites' events; a step's or an
    event's, that event's; the rest (a closing, a deadline), every seen step's."""
    traces = rollout.traces
    if not traces:
        return []
    if kind is Kind.STALL and step is not None:
        found = exp.step_index.get(step)
        before = found.after if found is not None else (rollout.rollback or "",)
        return [traces[name][:2] for name in before if name in traces]
    named = event.type if event is not None else step
    if named is not None and kind not in (Kind.DEADLINE_EXCEEDED, Kind.COMPLETED):
        return [traces[named][:2]] if named in traces else []
    return [trace[:2] for trace in traces.values()]


def event_finding(kind: Kind, event: Envelope, clock: float, **extra: object) -> Finding:
    """A finding about `event` raised at `clock`, naming the event's traces."""
    return Finding(
        kind,
        clock,
        event_type=event.type,
        event_id=event.id,
        # Without an id, the event is only known by where it was read (finding ids need it).
        event_source=event.source if event.id is not None else event.origin,
        event_trace_ids=distinct_traces([event_contexts(event)]),
        **extra,  # type: ignore[arg-type]
    )


def schema_violation(
    event: Envelope,
    errors: list[str],
    interested: Sequence[Expectation],
    clock: float,
    against: str = "reader",
    limits: Limits = DEFAULT_LIMITS,
) -> Finding:
    """`against` the writer schema (the registry's) or the reader schema (the file); the
    messages cut to what `limits` lets a finding echo of the value."""
    return event_finding(
        Kind.SCHEMA_VIOLATION,
        event,
        clock,
        errors=echoed(errors, limits),
        against=against,
        **_waiting_for(event, interested),
    )


def schema_not_found(
    event: Envelope, writer: Writer, interested: Sequence[Expectation], clock: float
) -> Finding:
    """The registry has no usable schema for the id the record names."""
    return event_finding(
        Kind.SCHEMA_NOT_FOUND,
        event,
        clock,
        schema_id=writer.schema_id,
        reason=writer.problem,
        **_waiting_for(event, interested),
    )


def schema_changed(
    event: Envelope,
    writer: Writer,
    previous: int | str,
    interested: Sequence[Expectation],
    clock: float,
) -> Finding:
    """The first event of its type written with another schema than the ones before it; told
    to the owner of the first expectation that waits for the type, with its `source`."""
    waiting = _waiting_for(event, interested)
    return Finding(
        Kind.SCHEMA_CHANGED,
        clock,
        expectation=waiting["expectation"],
        rollout=waiting["rollout"],
        owner=waiting["owner"],
        event_type=event.type,
        event_id=event.id,
        event_source=event.source if event.source is not None else event.origin,
        schema_id=writer.schema_id,
        previous_schema_id=previous,
        subject=writer.subject,
        version=writer.version,
    )


def _waiting_for(event: Envelope, interested: Sequence[Expectation]) -> dict[str, str | None]:
    """The first expectation that waits for this type, its rollout and the step's owner, so
    that the alert reaches the team that waits for the event."""
    if not interested:
        return {"expectation": None, "rollout": None, "owner": None}
    exp = interested[0]
    return {
        "expectation": exp.name,
        "rollout": correlation_key(event.lookup(exp.correlate_path)),
        "owner": exp.owner_of(event.type),
    }


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
