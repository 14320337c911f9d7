"""The rollout API's trace ids and links (contract section 13): the full rollout's `trace_id`
and each seen step's `traceparent`; with `tracing.trace_url`, the links of a rollout (its root
span), of its steps and of its findings, names percent-encoded, matching the document."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.tracing import (
    TraceOptions,
    finding_span_id,
    root_span_id,
    step_span_id,
    trace_id_of,
)
from sentinel.core.events.envelope import Envelope
from sentinel.core.pipeline.replay import replay
from sentinel.core.rules.expectations import Expectation, Step
from sentinel.status.api_json import full, summary
from sentinel.status.trace_links import TraceLinks, links_of

from .test_api import assert_valid

TEMPLATE = (
    "https://tempo.example/explore?trace={trace_id}&span={span_id}&exp={expectation}"
    "&rollout={rollout}&step={step}&from={start_ms}&to={end_ms}"
)
CREATED = "00-" + "a1" * 16 + "-" + "b2" * 8 + "-01"
HOP = "00-" + "c3" * 16 + "-" + "d4" * 8 + "-01"
OTHER_HOP = "00-" + "e5" * 16 + "-" + "f6" * 8 + "-00"
KEY = "eu/r 7&x#1"  # what a URL would misread, unencoded


def expectation() -> Expectation:
    return Expectation(
        "deploy",
        "data.key",
        (Step("A"), Step("B", after=("A",), within=60.0), Step("C", after=("B",), within=60.0)),
    )


def rolled(
    until: float, *, tracing: TraceOptions, close: bool = False
) -> tuple[Engine, list[Finding]]:
    """A rollout opened at 100 s: A came with a creation context and a different hop, B (late,
    after its stall at 160 s) with only a hop; with `close`, C completes it at 200 s."""
    engine = Engine([expectation()], retention_s=float("inf"), tracing=tracing)
    events = [
        Envelope("A", "1", "/s", 100.0, {"key": KEY}, {"traceparent": CREATED}, hop=OTHER_HOP),
        Envelope("B", "2", "/s", 170.0, {"key": KEY}, hop=HOP),
    ]
    if close:
        events.append(Envelope("C", "3", "/s", 200.0, {"key": KEY}))
    findings = list(replay(events, engine, read_at=lambda: 0.0, until=until))
    # Without schemas, each event is also unregistered: a finding of no rollout.
    return engine, [finding for finding in findings if finding.rollout == KEY]


def query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_the_full_rollout_names_its_trace_and_each_seen_steps_producer_context() -> None:
    engine, findings = rolled(180.0, tracing=TraceOptions())
    view = engine.view("deploy", KEY)
    assert view is not None
    data = full(view, findings)
    assert data["trace_id"] == trace_id_of("deploy", KEY, 100.0)
    # The same trace as every finding about the rollout says it is in.
    assert {finding["trace_id"] for finding in data["findings"]} == {data["trace_id"]}
    contexts = {step["step"]: step["traceparent"] for step in data["steps"]}
    assert contexts == {"A": CREATED, "B": HOP, "C": None}  # creation first, else the hop
    assert_valid("FullRollout", data)


def test_without_a_template_nothing_links() -> None:
    engine, findings = rolled(180.0, tracing=TraceOptions())
    view = engine.view("deploy", KEY)
    assert view is not None
    assert links_of(None, 180.0) is None
    data = full(view, findings, links_of(None, 180.0))
    shown = [data, *data["steps"], *data["findings"], summary(view)]
    assert all("trace_url" not in part for part in shown)


def test_an_open_rollouts_link_is_its_root_span_from_its_opening_to_now() -> None:
    engine, _ = rolled(180.0, tracing=TraceOptions(url=TEMPLATE))
    view = engine.view("deploy", KEY)
    assert view is not None
    trace = trace_id_of("deploy", KEY, 100.0)
    link = summary(view, TraceLinks(TEMPLATE, 185.0))["trace_url"]
    assert query(link) == {
        "trace": trace,
        "span": root_span_id(trace),
        "exp": "deploy",
        "rollout": KEY,  # decoded: it went in percent-encoded
        "from": "100000",
        "to": "185000",
    }  # `step` empty: parse_qs leaves it out
    assert "rollout=eu%2Fr%207%26x%231&step=&" in link


def test_a_closed_rollouts_links_end_at_its_closing_and_each_step_links_its_span() -> None:
    engine, findings = rolled(300.0, tracing=TraceOptions(url=TEMPLATE), close=True)
    view = engine.view("deploy", KEY)
    assert view is not None
    trace = view.trace_id
    data = full(view, findings, TraceLinks(TEMPLATE, 300.0))
    assert query(data["trace_url"])["to"] == "200000"  # closed_at, not the clock
    for step in data["steps"]:
        linked = query(step["trace_url"])
        assert linked["span"] == step_span_id(trace, step["step"])
        assert linked["step"] == step["step"]
        assert (linked["from"], linked["to"]) == ("100000", "200000")
    assert_valid("FullRollout", data)
    listed = {key: value for key, value in data.items() if key not in ("findings", "trace_id")}
    assert_valid("Summary", listed)


def test_findings_keep_the_link_they_were_raised_with() -> None:
    engine, findings = rolled(300.0, tracing=TraceOptions(url=TEMPLATE), close=True)
    view = engine.view("deploy", KEY)
    assert view is not None
    stall = next(finding for finding in findings if finding.kind == "stall")
    # Raised by the engine with the template: its own span, the trace up to when it was
    # raised (B's late event moved the clock past its due time), the key percent-encoded as
    # in the rollout's links.
    assert query(stall.trace_url or "") == {
        "trace": view.trace_id,
        "span": finding_span_id(stall.id),
        "exp": "deploy",
        "rollout": KEY,
        "step": "B",
        "from": "100000",
        "to": "170000",
    }
    data = full(view, findings, TraceLinks(TEMPLATE, 300.0))
    shown = {finding["id"]: finding["trace_url"] for finding in data["findings"]}
    assert shown == {finding.id: finding.trace_url for finding in findings}


def test_a_finding_kept_without_a_link_gets_one_to_its_span() -> None:
    engine, findings = rolled(300.0, tracing=TraceOptions(), close=True)
    view = engine.view("deploy", KEY)
    assert view is not None
    assert all(finding.trace_url is None for finding in findings)
    outside = Finding(findings[0].kind, 150.0, expectation="deploy", rollout=KEY)  # no trace
    data = full(view, [*findings, outside], TraceLinks(TEMPLATE, 300.0))
    for finding in data["findings"]:
        if finding["trace_id"] is None:
            assert "trace_url" not in finding
            continue
        linked = query(finding["trace_url"])
        assert linked["span"] == finding["span_id"]
        assert (linked["from"], linked["to"]) == ("100000", "200000")
        assert linked.get("step") == finding["step"]
    assert_valid("FullRollout", data)


def test_the_links_follow_whatever_placeholders_the_template_uses() -> None:
    engine, _ = rolled(180.0, tracing=TraceOptions())
    view = engine.view("deploy", KEY)
    assert view is not None
    links = TraceLinks("https://tempo.example/trace/{trace_id}", 180.0)
    assert links.rollout(view) == f"https://tempo.example/trace/{view.trace_id}"
    assert links.step(view, "B") == links.rollout(view)
    kept: dict[str, Any] = {"trace_url": "https://elsewhere.example/x"}
    assert links.finding(view, kept) == "https://elsewhere.example/x"
    assert links.finding(view, {"trace_id": None, "span_id": None}) is None


def test_a_link_never_ends_before_the_rollout_opened() -> None:
    engine, _ = rolled(180.0, tracing=TraceOptions())
    view = engine.view("deploy", KEY)
    assert view is not None
    early = TraceLinks(TEMPLATE, 50.0)  # a clock behind the events
    assert query(early.rollout(view))["to"] == "100000"
