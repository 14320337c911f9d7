"""Trace ids where a replay and the audit report show a rollout (contract section 13): the
same id the live sentinel gives it, so a replayed or audited rollout can be found in the
tracing UI."""

from __future__ import annotations

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.tracing import trace_id_of
from sentinel.core.pipeline.replay import replay_lines
from sentinel.core.timefmt import parse_rfc3339
from sentinel.status.period import Period
from sentinel.status.report import build_report
from sentinel.status.timeline import Timeline

from .helpers import EXAMPLE_CLOCK, EXAMPLE_LOG, Example


def test_the_replay_timeline_names_each_rollouts_trace(example: Example) -> None:
    engine = Engine(example.expectations, example.registry, retention_s=float("inf"))
    timeline = Timeline()
    lines = EXAMPLE_LOG.read_bytes().splitlines()
    for finding in replay_lines(lines, engine, read_at=lambda: EXAMPLE_CLOCK, until=EXAMPLE_CLOCK):
        timeline.add(finding)
    views = [
        view
        for name, rollouts in engine.rollouts.items()
        for key in rollouts
        if (view := engine.view(name, key)) is not None
    ]
    text = timeline.render(views, engine.clock)
    opened = parse_rfc3339("2026-11-25T10:01:00Z")
    expected = trace_id_of("user-service-v2", "r-1002", opened)
    assert (
        "user-service-v2 / r-1002  OPEN  (opened 2026-11-25T10:01:00Z, owner team-identity, "
        f"trace {expected})"
    ) in text
    assert text.count(", trace ") == len(views)


def test_each_rollout_of_the_report_names_its_trace(example: Example) -> None:
    report = build_report(example.rollouts, Period())
    for entry in report["rollouts"]:
        opened = parse_rfc3339(entry["opened_at"])
        assert entry["trace_id"] == trace_id_of(entry["expectation"], entry["rollout"], opened)
        # Its findings are in that trace, but for an event's (a schema violation), in none.
        traces = {finding["trace_id"] for finding in entry["findings"]}
        assert traces <= {entry["trace_id"], None}
        assert entry["trace_id"] in traces
