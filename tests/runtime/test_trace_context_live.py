"""Trace context from producers instrumented with OpenTelemetry, through the real broker: the
CloudEvents extension set by the application and the `traceparent` header the aiokafka
instrumentation injects both reach the findings, the rollout's state and the metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from opentelemetry.instrumentation.aiokafka import AIOKafkaInstrumentor
from opentelemetry.propagate import inject
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, format_span_id, format_trace_id

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
    try:
        await wait_for(lambda: bool(watcher.source.assigned()), what="partitions assigned")
        # The application creates the event in its migration's trace and says so in the
        # CloudEvents extension; a relay sends it later, in a trace of its own, and the
        # instrumentation puts the relay's producer span in the `traceparent` header.
        with tracer.start_as_current_span("migrate schema") as created:
            carrier: dict[str, str] = {}
            inject(carrier)
        event = orjson.loads(cloud_event("SchemaV2_Ready", "r-traced", "e-1", **SCHEMA))
        event["traceparent"] = carrier["traceparent"]
        with tracer.start_as_current_span("relay outbox", kind=SpanKind.INTERNAL) as relay:
            await producer.send_and_wait(topic, orjson.dumps(event))
        creation_trace = format_trace_id(created.get_span_context().trace_id)
        relay_trace = format_trace_id(relay.get_span_context().trace_id)
        (sent,) = [span for span in spans.get_finished_spans() if span.kind is SpanKind.PRODUCER]
        flags = f"{int(sent.context.trace_flags):02x}"
        hop = f"00-{relay_trace}-{format_span_id(sent.context.span_id)}-{flags}"

        stall = await findings.wait_kind("stall")
        opened_at = parse_rfc3339(event["time"])
        assert stall["trace_id"] == trace_id_of(stall["expectation"], "r-traced", opened_at)
        assert stall["event_trace_ids"] == [creation_trace, relay_trace]  # creation first

        view = watcher.parts.pipeline.engine.view(stall["expectation"], "r-traced")
        assert view is not None
        (step,) = [step for step in view.steps if step.step == "SchemaV2_Ready"]
        assert (step.traceparent, step.hop) == (carrier["traceparent"], hop)
        assert step.origin == f"{topic}/0@0"

        metrics = watcher.parts.metrics.registry
        for source in ("cloudevents", "w3c"):
            labels = {"source": source, "outcome": "valid"}
            assert metrics.get_sample_value("sentinel_trace_context_total", labels) == 1
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 30)
