"""The spans a batch finishes (contract section 13, "What is exported"): names, parents, times,
attributes, status, events and links, with ids from the contract's formulas that equal those
in the findings and the API."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import orjson
import pytest

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.spans import INTERNAL, SERVER, Span, span_from_json, span_to_json
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.envelope import Envelope
from sentinel.core.events.records import Partition, Record
from sentinel.core.pipeline.pipeline import EventClock, Pipeline, WallClock
from sentinel.core.timefmt import format_rfc3339
from sentinel.status.api_json import full
from sentinel.store.memory import MemoryStore

from .helpers import MIN, T0, event, user_service

TOPIC = "rollout.events"
PRODUCER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
HOP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"


def j(*parts: str) -> bytes:
    """The contract's J(x, ...): the UTF-8 of the compact JSON array ["sentinel/1", x, ...]."""
    return json.dumps(["sentinel/1", *parts], separators=(",", ":"), ensure_ascii=False).encode()


def sha(data: bytes, hex_digits: int) -> str:
    return hashlib.sha256(data).hexdigest()[:hex_digits]


class Exported:
    """The pipeline's span port, keeping what each batch exported."""

    def __init__(self) -> None:
        self.batches: list[list[Span]] = []

    def export(self, spans: Sequence[Span]) -> None:
        self.batches.append(list(spans))

    @property
    def spans(self) -> list[Span]:
        return [span for batch in self.batches for span in batch]

    def named(self, name: str) -> Span:
        (span,) = [span for span in self.spans if span.name == name]
        return span


class Run:
    """The pipeline on event time, a structured CloudEvent per record, spans exported."""

    def __init__(self, deadline: float | None = 30 * MIN) -> None:
        self.exported = Exported()
        self.engine = Engine([user_service(deadline)])
        self.pipeline = Pipeline(self.engine, MemoryStore(), BusDecoder(), spans=self.exported)
        self.clock = EventClock(lambda: T0)
        self.findings: list[Finding] = []
        self.offset = 0

    def send(self, *events: Envelope, hop: str | None = None) -> None:
        records = []
        for item in events:
            body = {
                "specversion": "1.0", "id": item.id, "source": item.source, "type": item.type,
                "time": format_rfc3339(item.time or T0), "data": item.data, **item.attributes,
            }  # fmt: skip
            headers = [] if hop is None else [("traceparent", hop.encode())]
            records.append(Record(Partition(TOPIC, 2), self.offset, orjson.dumps(body), headers))
            self.offset += 1
        self.findings += self.pipeline.process(records, self.clock).findings

    def until(self, at: float) -> None:
        self.findings += self.pipeline.process([], WallClock(at)).findings

    def finding(self, kind: str) -> Finding:
        (found,) = [finding for finding in self.findings if finding.kind == kind]
        return found


def traced(item: Envelope, traceparent: str = PRODUCER) -> Envelope:
    """The event with the CloudEvents Distributed Tracing extension: its creation context."""
    item.attributes = {**item.attributes, "traceparent": traceparent}
    return item


def attributes(span: Span) -> dict[str, object]:
    return dict(span.attributes)


def test_a_completed_rollout_is_a_pipeline_run_whose_steps_are_task_runs() -> None:
    run = Run()
    run.send(event("SchemaV2_Ready", T0, event_id="e1"))
    run.send(event("UserServiceV2_Running", T0 + 4 * MIN, event_id="e2"))
    assert [span.name for span in run.exported.spans] == [
        "SchemaV2_Ready",
        "UserServiceV2_Running",
    ], "a step's span is exported the moment it is seen, the root only at the end"
    run.send(event("MessagingService_Reconfigured", T0 + 6 * MIN, event_id="e3"))

    trace = sha(j("user-service-v2", "r1", "2026-11-25T10:00:00Z"), 32)
    root = run.exported.named("RUN user-service-v2")
    assert (root.trace_id, root.span_id, root.parent_id) == (trace, sha(j(trace, "root"), 16), None)
    assert (root.kind, root.start, root.end, root.error) == (SERVER, T0, T0 + 6 * MIN, None)
    assert attributes(root) == {
        "cicd.pipeline.name": "user-service-v2",
        "cicd.pipeline.run.id": "r1",
        "cicd.pipeline.result": "success",
        "sentinel.owner": "team-identity",
    }
    running = run.exported.named("UserServiceV2_Running")
    assert running.trace_id == trace
    assert running.span_id == sha(j(trace, "step", "UserServiceV2_Running"), 16)
    assert running.parent_id == root.span_id
    # From the start of its window (its prerequisite seen) to its event's time.
    assert (running.kind, running.start, running.end) == (INTERNAL, T0, T0 + 4 * MIN)
    assert attributes(running) == {
        "cicd.pipeline.task.name": "UserServiceV2_Running",
        "cicd.pipeline.task.run.result": "success",
        "cloudevents.event_id": "e2",
        "cloudevents.event_source": "/tests",
        "cloudevents.event_type": "UserServiceV2_Running",
        "sentinel.owner": "team-users",
        "sentinel.due": "2026-11-25T10:10:00Z",
    }
    first = run.exported.named("SchemaV2_Ready")
    assert (first.start, first.end) == (T0, T0), "a root step's window opens with the rollout"
    assert "sentinel.due" not in attributes(first), "a step without `within` is never due"

    completed = run.finding("completed")
    span = run.exported.named("finding completed")
    assert (completed.trace_id, completed.span_id) == (span.trace_id, span.span_id)
    assert span.span_id == sha(j("finding", completed.id), 16)
    assert (span.parent_id, span.start, span.end) == (root.span_id, completed.at, completed.at)
    assert span.error is None, "good news is no error"
    view = run.engine.view("user-service-v2", "r1")
    assert view is not None
    assert full(view, [completed])["trace_id"] == trace == view.trace_id
    assert len({(s.trace_id, s.span_id) for s in run.exported.spans}) == 5


def test_a_stall_is_a_span_at_once_and_marks_its_step_and_the_run_as_errors() -> None:
    run = Run()
    run.send(event("SchemaV2_Ready", T0))
    run.until(T0 + 11 * MIN)
    stall = run.finding("stall")
    (stalled,) = run.exported.batches[-1]
    assert stalled.name == "finding stall"
    trace = stall.trace_id
    assert trace is not None
    assert stalled.parent_id == sha(j(trace, "step", "UserServiceV2_Running"), 16)
    assert (stalled.start, stalled.end, stalled.span_id) == (stall.at, stall.at, stall.span_id)
    assert attributes(stalled) == {"error.type": "stall", "sentinel.finding.id": stall.id}
    assert stalled.error == "UserServiceV2_Running expected by 2026-11-25T10:10:00Z; nothing seen"

    run.send(event("UserServiceV2_Running", T0 + 12 * MIN))
    step = run.exported.named("UserServiceV2_Running")
    assert step.error == "stalled (due 2026-11-25T10:10:00Z)"
    assert attributes(step)["error.type"] == "stall"
    assert [(e.name, e.at) for e in step.events] == [
        ("finding stall", stall.at),
        ("finding recovered", run.finding("recovered").at),
    ]
    assert dict(step.events[0].attributes) == {"sentinel.finding.id": stall.id}
    run.send(event("MessagingService_Reconfigured", T0 + 13 * MIN))
    root = run.exported.named("RUN user-service-v2")
    assert root.error == "stall"
    assert attributes(root)["cicd.pipeline.result"] == "success"
    assert attributes(root)["error.type"] == "stall"


def test_a_rollback_cancels_the_steps_not_seen_and_the_run_fails() -> None:
    run = Run()
    run.send(event("SchemaV2_Ready", T0))
    run.send(event("Rollback_Initiated", T0 + 2 * MIN, event_id="t1"))
    cancelled = {span.name: span for span in run.exported.batches[-1] if span.name[0] != "f"}
    assert set(cancelled) == {
        "Rollback_Initiated",
        "UserServiceV2_Running",
        "MessagingService_Reconfigured",
    }
    running = cancelled["UserServiceV2_Running"]
    assert (running.start, running.end) == (T0, T0 + 2 * MIN), "its window ran until the rollback"
    assert attributes(running) == {
        "cicd.pipeline.task.name": "UserServiceV2_Running",
        "cicd.pipeline.task.run.result": "cancellation",
        "cloudevents.event_type": "UserServiceV2_Running",
        "sentinel.owner": "team-users",
        "sentinel.due": "2026-11-25T10:10:00Z",
    }
    messaging = cancelled["MessagingService_Reconfigured"]
    assert messaging.start == messaging.end == T0 + 2 * MIN, "its window never opened"
    trigger = cancelled["Rollback_Initiated"]
    assert (trigger.start, trigger.end) == (T0, T0 + 2 * MIN)
    assert attributes(trigger)["cloudevents.event_id"] == "t1"

    run.send(event("Rollback_Complete", T0 + 5 * MIN))
    expect = run.exported.named("Rollback_Complete")
    assert (expect.start, expect.end) == (T0 + 2 * MIN, T0 + 5 * MIN), "from its trigger"
    assert attributes(expect)["sentinel.due"] == "2026-11-25T10:17:00Z"
    root = run.exported.named("RUN user-service-v2")
    assert (root.start, root.end) == (T0, T0 + 5 * MIN)
    assert attributes(root)["cicd.pipeline.result"] == "failure"
    assert (attributes(root)["error.type"], root.error) == ("rollback", "rollback")
    rollback = run.exported.named("finding rollback")
    assert rollback.parent_id == root.span_id


def test_each_producer_context_is_a_link_with_where_the_event_was_read() -> None:
    run = Run()
    run.send(traced(event("SchemaV2_Ready", T0)), hop=HOP)
    step = run.exported.named("SchemaV2_Ready")
    messaging = {
        "messaging.system": "kafka",
        "messaging.destination.name": TOPIC,
        "messaging.destination.partition.id": "2",
        "messaging.kafka.offset": 0,
    }
    assert [(link.traceparent, dict(link.attributes)) for link in step.links] == [
        (PRODUCER, messaging),
        (HOP, messaging),
    ]
    assert (step.links[0].trace_id, step.links[0].span_id, step.links[0].flags) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
        1,
    )
    run.send(event("UserServiceV2_Running", T0 + MIN))
    run.send(event("MessagingService_Reconfigured", T0 + 2 * MIN))
    assert run.exported.named("UserServiceV2_Running").links == ()
    root = run.exported.named("RUN user-service-v2")
    assert root.links == step.links, "the run links to the contexts of its opening event"


@pytest.mark.parametrize(
    ("deadline", "until", "result"),
    [(30 * MIN, T0 + 31 * MIN, "timeout"), (None, T0 + 31 * MIN, "cancellation")],
)
def test_an_open_rollout_forgotten_by_a_reload_ends_its_run_then(
    deadline: float | None, until: float, result: str
) -> None:
    run = Run(deadline)
    run.send(event("SchemaV2_Ready", T0), event("UserServiceV2_Running", T0 + MIN))
    run.until(until)
    run.engine.reload([], run.engine.checks.schemas)
    run.until(until + MIN)
    root = run.exported.named("RUN user-service-v2")
    assert run.exported.batches[-1] == [root], "exported with the batch that writes it away"
    assert (root.start, root.end) == (T0, until)
    assert attributes(root)["cicd.pipeline.result"] == result


def test_a_finding_about_no_rollout_is_no_span() -> None:
    run = Run()
    run.send(Envelope(type="SchemaV2_Ready", id="x", source="/s", time=T0, data={}))
    assert "uncorrelated" in [finding.kind for finding in run.findings]
    assert run.exported.spans == []


def test_a_span_reads_back_as_it_was_written() -> None:
    run = Run()
    run.send(traced(event("SchemaV2_Ready", T0)), hop=HOP)
    run.until(T0 + 11 * MIN)
    run.send(event("Rollback_Initiated", T0 + 12 * MIN))
    run.send(event("Rollback_Complete", T0 + 13 * MIN))
    spans = run.exported.spans
    assert len(spans) > 5
    for span in spans:
        assert span_from_json(json.loads(json.dumps(span_to_json(span)))) == span


def test_the_same_records_give_the_same_spans_whatever_the_batches() -> None:
    events = [
        traced(event("SchemaV2_Ready", T0, event_id="a")),
        event("UserServiceV2_Running", T0 + 12 * MIN, event_id="b"),
        event("MessagingService_Reconfigured", T0 + 13 * MIN, event_id="c"),
    ]
    one, two = Run(), Run()
    one.send(*events)
    for item in events:
        two.send(item)
    assert sorted(one.exported.spans, key=lambda s: s.span_id) == sorted(
        two.exported.spans, key=lambda s: s.span_id
    )


def test_a_step_seen_before_its_prerequisite_has_the_same_span_in_one_batch_or_two() -> None:
    # Its span is exported when it is seen: a prerequisite seen later, even in the same batch,
    # neither opens its window nor gives it a due (the crash property found this one).
    events = [
        event("UserServiceV2_Running", T0, event_id="b"),
        event("SchemaV2_Ready", T0, event_id="a"),
    ]
    one, two = Run(), Run()
    one.send(*events)
    for item in events:
        two.send(item)
    for run in (one, two):
        early = run.exported.named("UserServiceV2_Running")
        assert "sentinel.due" not in attributes(early)
        assert early.start == early.end == T0
        assert [e.name for e in early.events] == ["finding out_of_order"]
    assert one.exported.named("UserServiceV2_Running") == two.exported.named(
        "UserServiceV2_Running"
    )
