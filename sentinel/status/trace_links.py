"""Links from the rollout API and the board into the tracing UI (contract section 13): the
`tracing.trace_url` template filled in for a rollout (its root span), for one of its steps
(the step's span) and for a finding kept without a link. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sentinel.core.engine.snapshots import RolloutView
from sentinel.core.engine.tracing import link_values, root_span_id, step_span_id, trace_link


@dataclass(frozen=True, slots=True)
class TraceLinks:
    """The template, and the clock that ends the link of a rollout still open: its trace
    grows until it closes, so its time range runs to now."""

    template: str
    clock: float

    def rollout(self, view: RolloutView) -> str:
        """The rollout's trace, at its root span; `{step}` is empty."""
        trace = view.trace_id
        return self._link(view, trace, root_span_id(trace), None)

    def step(self, view: RolloutView, step: str) -> str:
        """The step's span, whether or not it has ended (the trace opens all the same)."""
        trace = view.trace_id
        return self._link(view, trace, step_span_id(trace, step), step)

    def finding(self, view: RolloutView, finding: Mapping[str, Any]) -> str | None:
        """A finding's own link: the one it was raised with, else (kept before the template
        was set) one to its span; None for a finding outside the rollout's trace."""
        kept = finding.get("trace_url")
        if isinstance(kept, str):
            return kept
        trace, span = view.trace_id, finding.get("span_id")
        if finding.get("trace_id") != trace or not isinstance(span, str):
            return None
        return self._link(view, trace, span, finding.get("step"))

    def _link(self, view: RolloutView, trace: str, span: str, step: str | None) -> str:
        end = view.closed_at if view.closed_at is not None else max(self.clock, view.opened_at)
        values = link_values(trace, span, view.expectation, view.rollout, step, view.opened_at, end)
        return trace_link(self.template, values)


def links_of(template: str | None, clock: float) -> TraceLinks | None:
    """The links of `tracing.trace_url`; None without a template (nothing links)."""
    return None if template is None else TraceLinks(template, clock)
