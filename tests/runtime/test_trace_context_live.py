"""Trace context from producers instrumented with OpenTelemetry, through the real broker: the
CloudEvents extension set by the application and the `traceparent` header the aiokafka
instrumentation injects both reach the findings, the rollout's state and the metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
from opentelemetry.propagate import inject
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Tracer, format_span_id, format_trace_id

from sentinel.core.engine.tracing import trace_id_of
from sentinel.core.timefmt import parse_rfc3339
from sentinel.kafka.broker import EmbeddedBroker
from sentinel.runtime.wiring import build_watcher

from .watcher_support import SCHEMA, Findings, cloud_event, make_config, wait_for

pytestmark = pytest.mark.broker


@pytest.fixture
def exported() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A producer-side OpenTelemetry SDK, with aiokafka instrumented as a service would be."""
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    instrumentor = AIOKafkaInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield provider, spans
    finally:
        instrumentor.uninstrument()


@pytest.fixture
async def producer(
    broker: EmbeddedBroker, exported: tuple[TracerProvider, InMemorySpanExporter]
) -> AsyncIterator[AIOKafkaProducer]:
    made = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)  # instrumented
    await made.start()
    try:
        yield made
    finally:
        await made.stop()


async def test_producers_trace_context_reaches_the_stall_the_state_and_the_metrics(
    broker: EmbeddedBroker,
    topic_factory,
    tmp_path: Path,
    exported: tuple[TracerProvider, InMemorySpanExporter],
    producer: AIOKafkaProducer,
) -> None:
    provider, spans = exported
    tracer = provider.get_tracer("schema-service")
    topic = await topic_factory()
    config = make_config(tmp_path, broker, topic)
    findings = Findings()
    watcher = build_watcher(config, out=findings)
    task = asyncio.create_task(watcher.run(handle_signals=False))
    sent: dict[str, Sent] = {}
    try:
        await wait_for(lambda: bool(watcher.source.assigned()), what="partitions assigned")
        for mode in ("structured", "binary"):
            sent[mode] = await _send(producer, tracer, spans, topic, mode)

        await wait_for(lambda: findings.kinds().count("stall") == 2, what="both stalls")
        for offset, (mode, expected) in enumerate(sent.items()):
            (stall,) = [f for f in findings.items if f["kind"] == "stall" and f["rollout"] == mode]
            opened_at = parse_rfc3339(expected.time)
            assert stall["trace_id"] == trace_id_of(stall["expectation"], mode, opened_at)
            # Creation first, then the hop: the application's trace, then the relay's.
            assert stall["event_trace_ids"] == [expected.creation[3:35], expected.hop[3:35]]
            view = watcher.parts.pipeline.engine.view(stall["expectation"], mode)
            assert view is not None
            (step,) = [step for step in view.steps if step.step == "SchemaV2_Ready"]
            assert (step.traceparent, step.hop) == (expected.creation, expected.hop)
            assert step.origin == f"{topic}/0@{offset}"

        metrics = watcher.parts.metrics.registry
        for source in ("cloudevents", "w3c"):
            labels = {"source": source, "outcome": "valid"}
            assert metrics.get_sample_value("sentinel_trace_context_total", labels) == 2
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 30)


@dataclass(frozen=True)
class Sent:
    time: str  # the event's
    creation: str  # the traceparent the application put in the event
    hop: str  # the one the instrumentation put in the record's header


async def _send(
    producer: AIOKafkaProducer,
    tracer: Tracer,
    spans: InMemorySpanExporter,
    topic: str,
    mode: str,
) -> Sent:
    """SchemaV2_Ready of rollout `mode`, in that CloudEvents mode. The application creates it
    in its migration's trace and says so in the Distributed Tracing extension; a relay sends
    it later in a trace of its own, whose producer span the instrumentation puts in the
    `traceparent` header."""
    with tracer.start_as_current_span("migrate schema"):
        carrier: dict[str, str] = {}
        inject(carrier)
    event = orjson.loads(cloud_event("SchemaV2_Ready", mode, f"e-{mode}", **SCHEMA))
    spans.clear()
    with tracer.start_as_current_span("relay outbox"):
        if mode == "structured":
            event["traceparent"] = carrier["traceparent"]
            await producer.send_and_wait(topic, orjson.dumps(event))
        else:
            headers = [
                (f"ce_{name}", str(event[name]).encode())
                for name in ("specversion", "id", "source", "type", "time")
            ]
            headers += [
                ("ce_traceparent", carrier["traceparent"].encode()),
                ("content-type", b"application/json"),
            ]
            await producer.send_and_wait(topic, orjson.dumps(event["data"]), headers=headers)
    (span,) = [span for span in spans.get_finished_spans() if span.kind is SpanKind.PRODUCER]
    context = span.get_span_context()
    flags = f"{int(context.trace_flags):02x}"
    hop = f"00-{format_trace_id(context.trace_id)}-{format_span_id(context.span_id)}-{flags}"
    assert hop != carrier["traceparent"]
    return Sent(event["time"], carrier["traceparent"], hop)
