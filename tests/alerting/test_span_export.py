"""The `otlp` sink: spans through the outbox to a real OTLP/HTTP receiver (protobuf decoded with
opentelemetry-proto), retried on an outage or 429/502-504 (Retry-After honoured), dropped and
counted on any other refusal, never lost and never doubled."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager

import pytest
from prometheus_client import CollectorRegistry

from sentinel import __version__
from sentinel.alerting.sinks.otlp_protobuf import resource_of
from sentinel.alerting.sinks.otlp_settings import OtlpSettings
from sentinel.alerting.span_export import SPANS_PER_ITEM, SpanExport
from sentinel.core.engine.spans import INTERNAL, SERVER, Span, SpanEvent, SpanLink
from sentinel.runtime.metrics import Metrics
from sentinel.runtime.metrics_observer import MetricsObserver
from sentinel.store.sqlite_outbox import SqliteOutbox

from .fakes import Answer
from .otlp_receiver import OtlpReceiver

T0 = 1_795_600_800.0
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def spans(count: int, prefix: str = "a") -> list[Span]:
    """`count` step spans of one trace, each with an event and a producer link."""
    made = []
    for n in range(count):
        made.append(
            Span(
                trace_id=TRACE,
                span_id=f"{prefix}{n:015x}",
                parent_id="00f067aa0ba902b7",
                name=f"Step_{n}",
                kind=INTERNAL,
                start=T0 + n,
                end=T0 + n + 0.25,
                attributes=(("cicd.pipeline.task.name", f"Step_{n}"), ("n", n), ("ok", True)),
                error="stalled" if n % 2 else None,
                events=(SpanEvent("finding stall", T0 + n + 0.125, (("x", 1.5),)),),
                links=(SpanLink(PRODUCER, (("messaging.kafka.offset", n),)),),
            )
        )
    return made


@pytest.fixture
async def otlp() -> AsyncIterator[OtlpReceiver]:
    server = OtlpReceiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


class Harness:
    def __init__(self, export: SpanExport, outbox: SqliteOutbox) -> None:
        self.export = export
        self.outbox = outbox

    def enqueue(self, batch: Sequence[Span]) -> None:
        with self.outbox.transaction():
            self.export.export(batch)


@asynccontextmanager
async def sending(
    receiver: OtlpReceiver, metrics: Metrics, **settings: object
) -> AsyncIterator[Harness]:
    outbox = SqliteOutbox(":memory:")
    otlp = OtlpSettings(receiver.url, **settings)  # type: ignore[arg-type]
    export = SpanExport(
        otlp,
        outbox,
        resource_of({"deployment.environment.name": "test"}, {"SENTINEL_POD_NAME": "pod-0"}),
        MetricsObserver(metrics, set()),
        retry_initial=0.05,
        retry_max=0.2,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(export.run_sender(stop))
    try:
        yield Harness(export, outbox)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def until(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds}s for {what}"
        await asyncio.sleep(0.02)


def counted(metrics: Metrics, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "sentinel_alerts_sent_total", {"sink": "otlp", "outcome": outcome}
    )
    return value or 0.0


async def test_spans_are_posted_as_otlp_protobuf_with_the_sentinels_resource(
    otlp: OtlpReceiver, metrics: Metrics
) -> None:
    sent = spans(3)
    async with sending(otlp, metrics, headers={"x-scope-orgid": "tenant-1"}) as harness:
        harness.enqueue(sent)
        await until(lambda: len(otlp.spans) == 3, "three spans")
    (request,) = otlp.served("/v1/traces")
    assert request.headers["Content-Type"] == "application/x-protobuf"
    assert request.headers["Content-Encoding"] == "gzip", "gzip by default"
    assert request.headers["x-scope-orgid"] == "tenant-1"
    got = otlp.by_key()[(TRACE, sent[1].span_id)]
    assert (got.name, got.parent_id, got.kind) == ("Step_1", "00f067aa0ba902b7", 1)
    assert (got.start_ns, got.end_ns) == (int(T0 + 1) * 10**9, int(T0 + 1) * 10**9 + 250_000_000)
    assert got.attributes == {"cicd.pipeline.task.name": "Step_1", "n": 1, "ok": True}
    assert got.status == (2, "stalled")  # STATUS_CODE_ERROR
    assert otlp.by_key()[(TRACE, sent[0].span_id)].status == (0, ""), "unset: it went well"
    assert got.events == [("finding stall", int(T0 + 1) * 10**9 + 125_000_000, {"x": 1.5})]
    # The producer's span, remote, sampled as its traceparent says.
    producer = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    assert got.links == [(*producer, 0x301, {"messaging.kafka.offset": 1})]
    assert got.resource == {
        "service.name": "rollout-sentinel",
        "service.version": __version__,
        "service.instance.id": "pod-0",
        "deployment.environment.name": "test",
    }
    assert got.scope == ("rollout-sentinel", __version__)
    assert counted(metrics, "sent") == 1


async def test_a_root_span_is_a_server_span_and_many_spans_share_a_post(
    otlp: OtlpReceiver, metrics: Metrics
) -> None:
    root = Span(TRACE, "00f067aa0ba902b7", None, "RUN user-service-v2", SERVER, T0, T0 + 9, ())
    many = spans(SPANS_PER_ITEM + 3)
    async with sending(otlp, metrics, compression="none") as harness:
        harness.enqueue([root, *many])
        await until(lambda: len(otlp.spans) == len(many) + 1, "every span")
    posts = otlp.served("/v1/traces")
    assert len(posts) == 2, "a delivery carries up to SPANS_PER_ITEM spans"
    assert "Content-Encoding" not in posts[0].headers
    got = otlp.by_key()[(TRACE, root.span_id)]
    assert (got.kind, got.parent_id, got.flags) == (2, "", 0x101)


async def test_a_collector_outage_loses_nothing_and_sends_each_span_once(
    otlp: OtlpReceiver, metrics: Metrics
) -> None:
    async with sending(otlp, metrics) as harness:
        otlp.fail_next(Answer(503, "overloaded"), Answer(502, "bad gateway"))
        harness.enqueue(spans(2, "a"))
        await until(lambda: len(otlp.spans) == 2, "the first spans after two refusals")
        await otlp.outage(0.5)  # down: connections refused
        harness.enqueue(spans(2, "b"))
        harness.enqueue(spans(2, "c"))
        await until(lambda: len(otlp.spans) == 6, "the spans sent during the outage", 15)
    assert len(otlp.by_key()) == len(otlp.spans) == 6, "each span once"
    assert counted(metrics, "retried") >= 3
    assert harness.outbox.depth("otlp") == 0


async def test_retry_after_is_honoured(otlp: OtlpReceiver, metrics: Metrics) -> None:
    async with sending(otlp, metrics) as harness:
        otlp.fail_next(Answer(429, "slow down", {"Retry-After": "1"}))
        harness.enqueue(spans(1))
        await until(lambda: len(otlp.spans) == 1, "the span after its Retry-After")
    refused, accepted = otlp.requests
    assert (refused.status, accepted.status) == (429, 200)
    assert accepted.at - refused.at >= 1.0, "not before the collector said"


@pytest.mark.parametrize("status", [400, 413, 500])
async def test_a_refused_request_is_dropped_and_counted_and_the_rest_go_on(
    otlp: OtlpReceiver, metrics: Metrics, status: int
) -> None:
    async with sending(otlp, metrics) as harness:
        otlp.fail_next(Answer(status, "bad request"))
        harness.enqueue(spans(2, "a"))
        harness.enqueue(spans(2, "b"))
        await until(lambda: len(otlp.spans) == 2, "the spans after the refused ones")
        assert harness.export.status()["otlp"]["failed"] == 1
    assert {span.span_id[0] for span in otlp.spans} == {"b"}
    assert counted(metrics, "dropped_permanent") == 1
    assert [r.status for r in otlp.requests] == [status, 200], "never retried"


async def test_the_same_spans_enqueued_again_are_not_sent_again(
    otlp: OtlpReceiver, metrics: Metrics
) -> None:
    batch = spans(2)
    async with sending(otlp, metrics) as harness:
        harness.enqueue(batch)
        harness.enqueue(batch)  # a batch read again after a crash, before its commit
        await until(lambda: len(otlp.spans) == 2, "the spans")
        harness.enqueue([])
    assert len(otlp.served("/v1/traces")) == 1


async def test_the_traces_variable_names_the_whole_url(metrics: Metrics) -> None:
    receiver = OtlpReceiver(path="/custom/traces")
    await receiver.start()
    try:
        outbox = SqliteOutbox(":memory:")
        settings = OtlpSettings(receiver.url + "/custom/traces", full_url=True)
        export = SpanExport(settings, outbox, {})
        stop = asyncio.Event()
        task = asyncio.create_task(export.run_sender(stop))
        with outbox.transaction():
            export.export(spans(1))
        await until(lambda: len(receiver.spans) == 1, "the span at the full URL")
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await receiver.stop()


def test_the_resource_is_the_sentinel_unless_tracing_resource_says_otherwise() -> None:
    resource = resource_of({"service.name": "sentinel-eu"}, {})
    assert resource["service.name"] == "sentinel-eu"
    assert resource["service.instance.id"], "the host's name without a pod's"
    assert list(_keys(resource)) == ["service.name", "service.version", "service.instance.id"]


def _keys(resource: dict[str, str]) -> Iterator[str]:
    yield from resource
