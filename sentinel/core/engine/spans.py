"""What a batch did, as OpenTelemetry spans of its rollouts' traces (contract section 13), so a
tracing UI shows each choreographed rollout end to end, like a pipeline run.

Pure records: no I/O, no clock; every time is an event time or a finding's, and every id is
computed (`tracing.py`), so a batch read again after a crash gives the same spans. The names
and attributes follow OpenTelemetry's CI/CD conventions: a rollout is a pipeline run (the
root, `RUN <expectation>`), a step a task run, a finding a zero-length span in its step.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sentinel.core.engine.findings import Finding, Kind
from sentinel.core.engine.kinds import sentence
from sentinel.core.engine.ports import EngineChanges
from sentinel.core.engine.rollout import NO_TRACE, RolloutState
from sentinel.core.engine.snapshots import Phase
from sentinel.core.engine.tracing import (
    root_span_id,
    span_of,
    step_span_id,
    trace_id_of,
    trace_of,
)
from sentinel.core.rules.expectations import Expectation
from sentinel.core.timefmt import format_rfc3339

Value = str | int | float | bool
Attributes = tuple[tuple[str, Value], ...]
# Span kinds as OTLP names them; the semantic conventions make a pipeline run a SERVER span.
SERVER = "server"
INTERNAL = "internal"
# `topic/partition@offset`, where a step's event was read (a log line in replay is not Kafka).
_ORIGIN = re.compile(r"(.+)/(\d+)@(\d+)")
# A rollout a person called off (contract section 14) was cancelled, in OpenTelemetry's words.
_CLOSING = {Kind.COMPLETED: "success", Kind.ROLLED_BACK: "failure", Kind.ABANDONED: "cancellation"}


@dataclass(frozen=True, slots=True)
class SpanEvent:
    """Something that happened at one moment of a span: a finding on its step."""

    name: str
    at: float
    attributes: Attributes = ()


@dataclass(frozen=True, slots=True)
class SpanLink:
    """A producer's span behind a step's event (its W3C traceparent)."""

    traceparent: str
    attributes: Attributes = ()

    @property
    def trace_id(self) -> str:
        return trace_of(self.traceparent)

    @property
    def span_id(self) -> str:
        return span_of(self.traceparent)

    @property
    def flags(self) -> int:
        return int(self.traceparent[53:55], 16)


@dataclass(frozen=True, slots=True)
class Span:
    """One finished span; times are epoch seconds. `error` set: status ERROR with it as the
    message; None: status unset (OpenTelemetry's default for a span that went as it should)."""

    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    start: float
    end: float
    attributes: Attributes
    error: str | None = None
    events: tuple[SpanEvent, ...] = ()
    links: tuple[SpanLink, ...] = ()


def batch_spans(
    changes: EngineChanges,
    fresh: Sequence[Finding],
    rollouts: Mapping[str, Mapping[str, RolloutState]],
    expectations: Mapping[str, Expectation],
) -> list[Span]:
    """The spans a batch finished: each step seen, the steps a rollback cancelled, each new
    finding about a rollout, and the root of each rollout that closed or was forgotten.
    `rollouts` as the batch left them (with its findings added), `fresh` its new findings."""
    spans: list[Span] = []
    done: set[tuple[str, str, str]] = set()
    for seen in changes.steps_seen:
        name, key, step = seen
        rollout = rollouts.get(name, {}).get(key)
        exp = expectations.get(name)
        if rollout is None or exp is None or seen in done or step not in rollout.seen:
            continue
        done.add(seen)
        spans.append(step_span(exp, rollout, step))
    for finding in fresh:
        if finding.trace_id is None or finding.expectation is None or finding.rollout is None:
            continue
        spans.append(finding_span(finding))
        rollout = rollouts.get(finding.expectation, {}).get(finding.rollout)
        exp = expectations.get(finding.expectation)
        if rollout is None or exp is None:
            continue
        if finding.kind is Kind.ROLLBACK:
            spans += cancelled_spans(exp, rollout)
        elif finding.kind in _CLOSING:
            closed_at = rollout.opened_at + (finding.duration_s or 0.0)
            spans.append(root_span(exp, rollout, closed_at, _CLOSING[finding.kind]))
    for exp, rollout, at in changes.forgotten:
        spans.append(root_span(exp, rollout, at, _forgotten_result(exp, rollout)))
    return spans


def root_span(
    exp: Expectation | None, rollout: RolloutState, closed_at: float, result: str
) -> Span:
    """The rollout as a pipeline run, from its opening to its closing (or its forgetting);
    ERROR when any problem finding was raised about it. Linked to its opening event's
    producers."""
    trace = _trace(rollout)
    problems = _distinct(f.kind for f in rollout.findings if f.is_problem)
    if rollout.stalled and Kind.STALL not in problems:
        problems.insert(0, Kind.STALL)  # its finding may be past the rollout's kept ones
    attributes: list[tuple[str, Value]] = [
        ("cicd.pipeline.name", rollout.expectation),
        ("cicd.pipeline.run.id", rollout.key),
        ("cicd.pipeline.result", result),
    ]
    owner = exp.owner if exp is not None else None
    if owner is not None:
        attributes.append(("sentinel.owner", owner))
    if problems:  # the conventions want error.type on a failed run and on an ERROR span
        attributes.append(("error.type", str(problems[0])))
    opening = next(iter(rollout.counted), None)
    return Span(
        trace_id=trace,
        span_id=root_span_id(trace),
        parent_id=None,
        name=f"RUN {rollout.expectation}",
        kind=SERVER,
        start=rollout.opened_at,
        end=max(closed_at, rollout.opened_at),
        attributes=tuple(attributes),
        error=", ".join(problems) if problems else None,
        links=_links(rollout, opening) if opening is not None else (),
    )


def step_span(exp: Expectation, rollout: RolloutState, step: str) -> Span:
    """A step seen: from the start of its window to its event's time, linked to the
    producers of its event."""
    event_id, source = rollout.counted.get(step, (None, None))
    extra: list[tuple[str, Value]] = [
        (name, value)
        for name, value in (
            ("cloudevents.event_id", event_id),
            ("cloudevents.event_source", source),
            ("cloudevents.event_type", step),
        )
        if value is not None
    ]
    return _task(exp, rollout, step, rollout.seen[step], "success", extra, _links(rollout, step))


def cancelled_spans(exp: Expectation, rollout: RolloutState) -> list[Span]:
    """The steps a rollback took off the script: ended when its trigger happened."""
    trigger = rollout.rollback
    if trigger is None or trigger not in rollout.seen:
        return []
    at = rollout.seen[trigger]
    return [
        _task(
            exp, rollout, step.event, at, "cancellation", [("cloudevents.event_type", step.event)]
        )
        for step in exp.steps
        if step.event not in rollout.seen
    ]


def finding_span(finding: Finding) -> Span:
    """A finding as a zero-length span at its time, in its step's span (else the root): a
    stall shows in the trace at once, before its step closes."""
    trace = finding.trace_id or ""
    parent = step_span_id(trace, finding.step) if finding.step else root_span_id(trace)
    attributes: Attributes = (("sentinel.finding.id", finding.id),)
    if finding.is_problem:
        attributes = (("error.type", str(finding.kind)), *attributes)
    return Span(
        trace_id=trace,
        span_id=finding.span_id or "",
        parent_id=parent,
        name=f"finding {finding.kind}",
        kind=INTERNAL,
        start=finding.at,
        end=finding.at,
        attributes=attributes,
        # The finding in one sentence, its times written whole.
        error=sentence(finding.to_json_dict(), str) if finding.is_problem else None,
    )


def _task(
    exp: Expectation,
    rollout: RolloutState,
    step: str,
    end: float,
    result: str,
    extra: list[tuple[str, Value]],
    links: tuple[SpanLink, ...] = (),
) -> Span:
    """A step as a task run of the rollout's pipeline run."""
    trace = _trace(rollout)
    start, due = _window(exp, rollout, step)
    attributes: list[tuple[str, Value]] = [
        ("cicd.pipeline.task.name", step),
        ("cicd.pipeline.task.run.result", result),
        *extra,
    ]
    owner = exp.owner_of(step)
    if owner is not None:
        attributes.append(("sentinel.owner", owner))
    if due is not None:
        attributes.append(("sentinel.due", format_rfc3339(due)))
    stalled = step in rollout.stalled
    if stalled:
        attributes.append(("error.type", str(Kind.STALL)))
    when = f" (due {format_rfc3339(due)})" if due is not None else ""
    return Span(
        trace_id=trace,
        span_id=step_span_id(trace, step),
        parent_id=root_span_id(trace),
        name=step,
        kind=INTERNAL,
        start=min(start if start is not None else end, end),
        end=end,
        attributes=tuple(attributes),
        error=f"stalled{when}" if stalled else None,
        events=tuple(
            SpanEvent(f"finding {f.kind}", f.at, (("sentinel.finding.id", f.id),))
            for f in rollout.findings
            if f.step == step
        ),
        links=links,
    )


def _window(
    exp: Expectation, rollout: RolloutState, step: str
) -> tuple[float | None, float | None]:
    """(start, due) of a step's window: it opens when its last prerequisite is seen (at the
    opening for a root step, at the trigger for a compensation's event). A start of None: it
    never opened (seen out of order, or cancelled before); a due of None: no `within`.
    Only what was seen before the step counts, as when its span is exported at its seeing: a
    prerequisite seen later in the same batch must not change it (any batching, one span)."""
    seen = _seen_before(rollout.seen, step)
    found = exp.step_index.get(step)
    if found is not None:
        within = found.within
        if not found.after:
            start: float | None = rollout.opened_at
        elif all(prerequisite in seen for prerequisite in found.after):
            start = max(seen[prerequisite] for prerequisite in found.after)
        else:
            return None, None
    else:
        comp = exp.by_trigger.get(rollout.rollback or "")
        if comp is None or comp.expect != step:
            comp = exp.by_expect.get(step)
        if comp is None:
            return rollout.opened_at, None  # a trigger: it may come any time after the opening
        within, start = comp.within, seen.get(comp.trigger)
    due = start + within if start is not None and within is not None else None
    return start, due


def _seen_before(seen: dict[str, float], step: str) -> dict[str, float]:
    """The steps seen before `step`, in the order they were seen (all of them while it is
    unseen): `seen` keeps its insertion order through the store and the changelog."""
    if step not in seen:
        return seen
    before: dict[str, float] = {}
    for name, at in seen.items():
        if name == step:
            break
        before[name] = at
    return before


def _links(rollout: RolloutState, step: str) -> tuple[SpanLink, ...]:
    """A link per producer context kept for the step's event: its creation context, then its
    last hop's, each with where the event was read."""
    creation, hop, origin = rollout.traces.get(step, NO_TRACE)
    attributes = _messaging(origin)
    return tuple(SpanLink(tp, attributes) for tp in (creation, hop) if tp is not None)


def _messaging(origin: str | None) -> Attributes:
    found = _ORIGIN.fullmatch(origin) if origin is not None else None
    if found is None:
        return ()
    topic, partition, offset = found.groups()
    return (
        ("messaging.system", "kafka"),
        ("messaging.destination.name", topic),
        ("messaging.destination.partition.id", partition),
        ("messaging.kafka.offset", int(offset)),
    )


def _forgotten_result(exp: Expectation, rollout: RolloutState) -> str:
    """A rollout forgotten while open: `timeout` once its deadline passed, `failure` while
    rolling back, else `cancellation` (nobody watches it any more)."""
    if rollout.phase is Phase.ROLLING_BACK:
        return "failure"
    exceeded = exp.deadline is not None and rollout.deadline_at is None
    if exceeded or any(f.kind is Kind.DEADLINE_EXCEEDED for f in rollout.findings):
        return "timeout"
    return "cancellation"


def _trace(rollout: RolloutState) -> str:
    return trace_id_of(rollout.expectation, rollout.key, rollout.opened_at)


def _distinct(kinds: Iterable[Kind]) -> list[Kind]:
    found: list[Kind] = []
    for kind in kinds:
        if kind not in found:
            found.append(kind)
    return found


def span_to_json(span: Span) -> dict[str, Any]:
    """A span as JSON-ready data (the outbox keeps spans this way until they are sent)."""
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_id": span.parent_id,
        "name": span.name,
        "kind": span.kind,
        "start": span.start,
        "end": span.end,
        "attributes": [list(pair) for pair in span.attributes],
        "error": span.error,
        "events": [
            {"name": e.name, "at": e.at, "attributes": [list(pair) for pair in e.attributes]}
            for e in span.events
        ],
        "links": [
            {"traceparent": link.traceparent, "attributes": [list(p) for p in link.attributes]}
            for link in span.links
        ],
    }


def span_from_json(data: Mapping[str, Any]) -> Span:
    """The span `span_to_json` wrote."""
    return Span(
        trace_id=data["trace_id"],
        span_id=data["span_id"],
        parent_id=data["parent_id"],
        name=data["name"],
        kind=data["kind"],
        start=data["start"],
        end=data["end"],
        attributes=_pairs(data["attributes"]),
        error=data["error"],
        events=tuple(
            SpanEvent(e["name"], e["at"], _pairs(e["attributes"])) for e in data["events"]
        ),
        links=tuple(
            SpanLink(link["traceparent"], _pairs(link["attributes"])) for link in data["links"]
        ),
    )


def _pairs(rows: Iterable[Sequence[Any]]) -> Attributes:
    return tuple((str(row[0]), row[1]) for row in rows)
