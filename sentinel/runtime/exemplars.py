"""Exemplars `{trace_id, span_id}` on the rollout metrics (contract section 13, "Metrics"): a
sample in Grafana opens the rollout's trace.

A step wait or a rollout duration is observed for most events, and its ids are two SHA-256s:
the observer keeps only what the ids are made from (`SpanOf`, a tuple), and the histogram
computes them from it when scraped (`span_labels`), once per exemplar. The ids are the very
ones of sentinel.core.engine.tracing, so an exemplar names the trace the findings and the
exported spans name.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import cast

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.engine.tracing import root_span_id, step_span_id, trace_id_of

# (expectation, rollout key, opened_at, step): a step's span; a step of None, the root span.
SpanOf = tuple[str, str, float, str | None]


def span_of(rollout: RolloutState, step: str | None) -> SpanOf:
    """What a span's ids are made from; cheap: the rollout is lent only for the call."""
    return (rollout.expectation, rollout.key, rollout.opened_at, step)


def span_labels(source: Hashable) -> Mapping[str, str]:
    """The exemplar labels of a `SpanOf`: the rollout's trace and the step's (or root) span."""
    expectation, key, opened_at, step = cast(SpanOf, source)
    trace_id = trace_id_of(expectation, key, opened_at)
    span_id = root_span_id(trace_id) if step is None else step_span_id(trace_id, step)
    return {"trace_id": trace_id, "span_id": span_id}


def finding_labels(finding: Finding) -> dict[str, str] | None:
    """A finding's exemplar labels: its rollout's trace and its own span; None for a finding
    that belongs to no rollout (schema_violation, malformed, ...: no trace to open)."""
    span_id = finding.span_id
    if finding.trace_id is None or span_id is None:
        return None
    return {"trace_id": finding.trace_id, "span_id": span_id}
