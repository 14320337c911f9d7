"""Spans from a real watcher (`sentinel run` and its wiring) fed through the real broker reach an
OTLP/HTTP receiver (contract section 13): the rollout's trace whole, a stall at once, nothing
lost to a collector outage or a SIGKILL and nothing doubled but identical re-sends, a refused
request dropped and counted; and through a real collector (rotel) when it is installed."""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from alerting.fakes import Answer
from alerting.otlp_receiver import OtlpReceiver, Received
from prometheus_client import CollectorRegistry

from sentinel.core.engine.tracing import root_span_id, step_span_id, trace_id_of
from sentinel.core.timefmt import parse_rfc3339
from sentinel.kafka.broker import EmbeddedBroker
from sentinel.local_port import free_port
from sentinel.runtime.wiring import build_watcher

from .watcher_support import (
    MESSAGING,
    SCHEMA,
    SERVICE,
    Findings,
    Process,
    cloud_event,
    make_config,
    wait_for,
)

pytestmark = pytest.mark.broker
EXPECTATION = "fast-user-service"
PRODUCER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
STEPS = ("SchemaV2_Ready", "UserServiceV2_Running", "MessagingService_Reconfigured")
DATA = dict(zip(STEPS, (SCHEMA, SERVICE, MESSAGING), strict=True))


def tracing(endpoint: str) -> str:
    """`tracing.otlp` and no `alerting:` section: spans need no alert sink."""
    return f"tracing:\n  otlp:\n    endpoint: {endpoint}\n  resource:\n    team: sre\n"


@pytest.fixture
async def otlp() -> AsyncIterator[OtlpReceiver]:
    server = OtlpReceiver()
    await server.start()
    yield server
    await server.stop()


def event(step: str, rollout: str, at: float, traceparent: str | None = None) -> bytes:
    body = orjson.loads(cloud_event(step, rollout, f"{rollout}-{step}", at=at, **DATA[step]))
    if traceparent is not None:
        body["traceparent"] = traceparent
    return orjson.dumps(body)


def one(spans: list[Received], name: str) -> Received:
    found = {span.key: span for span in spans if span.name == name}
    assert len(found) == 1, f"{name}: {found}"
    return next(iter(found.values()))


async def test_a_rollout_is_one_trace_its_stall_shown_at_once(
    broker: EmbeddedBroker, topic_factory: Any, produce: Any, tmp_path: Path, otlp: OtlpReceiver
) -> None:
    topic = await topic_factory()
    config = make_config(tmp_path, broker, topic, window="1s", extra=tracing(otlp.url))
    findings = Findings()
    watcher = build_watcher(config, out=findings)
    task = asyncio.create_task(watcher.run(handle_signals=False))
    try:
        await wait_for(lambda: bool(watcher.source.assigned()), what="partitions assigned")
        opened = round(time.time(), 3)
        where = await produce(topic, event(STEPS[0], "s1", opened, PRODUCER))
        stall = await findings.wait_kind("stall")
        await wait_for(lambda: bool(otlp.named("finding stall")), 10, "the stall's span")
        assert not otlp.named("RUN fast-user-service"), "the run is still open"
        await produce(topic, event(STEPS[1], "s1", opened + 2))
        await produce(topic, event(STEPS[2], "s1", opened + 2.5))
        await findings.wait_kind("completed")
        await wait_for(lambda: bool(otlp.named(f"RUN {EXPECTATION}")), 10, "the root span")
        _, details = watcher.readiness()
        assert details["tracing"]["otlp"]["ok"] and details["tracing"]["otlp"]["pending"] == 0
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 30)

    trace = trace_id_of(EXPECTATION, "s1", opened)
    assert stall["trace_id"] == trace
    spans = otlp.spans
    assert {span.trace_id for span in spans} == {trace}
    root = one(spans, f"RUN {EXPECTATION}")
    assert (root.span_id, root.parent_id, root.kind) == (root_span_id(trace), "", 2)
    assert root.attributes == {
        "cicd.pipeline.name": EXPECTATION,
        "cicd.pipeline.run.id": "s1",
        "cicd.pipeline.result": "success",
        "sentinel.owner": "team-identity",
        "error.type": "stall",
    }
    assert root.status == (2, "stall")
    assert (root.start_ns, root.end_ns) == (
        round(opened * 1e6) * 1000,
        round(opened * 1e6 + 2.5e6) * 1000,
    )
    assert root.resource["service.name"] == "rollout-sentinel"
    assert root.resource["team"] == "sre"
    first = one(spans, STEPS[0])
    assert (first.span_id, first.parent_id) == (step_span_id(trace, STEPS[0]), root.span_id)
    partition, offset = where
    assert first.links == [
        (
            PRODUCER[3:35],
            PRODUCER[36:52],
            0x301,
            {
                "messaging.system": "kafka",
                "messaging.destination.name": topic,
                "messaging.destination.partition.id": str(partition),
                "messaging.kafka.offset": offset,
            },
        )
    ]
    assert root.links == first.links, "the run links to its opening event's producer"
    running = one(spans, STEPS[1])
    assert running.status[0] == 2 and running.attributes["error.type"] == "stall"
    assert running.attributes["cloudevents.event_id"] == f"s1-{STEPS[1]}"
    assert [name for name, _, _ in running.events] == ["finding stall", "finding recovered"]
    stalled = one(spans, "finding stall")
    assert (stalled.span_id, stalled.parent_id) == (stall["span_id"], running.span_id)
    assert stalled.start_ns == stalled.end_ns
    assert abs(stalled.start_ns - parse_rfc3339(stall["at"]) * 1e9) < 1e6, "at the finding's time"
    assert len(otlp.by_key()) == len(spans) == 7, "3 steps, stall, recovered, completed, root"


async def test_nothing_is_lost_to_a_collector_outage_and_a_sigkill_nor_doubled(
    broker: EmbeddedBroker,
    topic_factory: Any,
    produce: Any,
    tmp_path: Path,
    otlp: OtlpReceiver,
    processes: list[Process],
) -> None:
    topic = await topic_factory()
    config = make_config(
        tmp_path, broker, topic, group_id="otlp-kill", state_path=tmp_path / "state.db",
        window="1h", extra=tracing(otlp.url),
    )  # fmt: skip
    otlp.unavailable(3600)  # the collector answers 503: spans wait in the outbox
    first = Process(config.source, tmp_path, "first")
    processes.append(first)
    await first.wait_ready()
    opened = time.time()
    for n, step in enumerate(STEPS):
        await produce(topic, event(step, "k1", opened + n, PRODUCER))
    await produce(topic, event(STEPS[0], "k2", opened))
    await wait_for(lambda: first.kinds() == ["completed"], 30, "the completed rollout")
    await wait_for(lambda: len(otlp.served("/v1/traces", 503)) >= 2, 20, "two refusals")
    assert await asyncio.to_thread(first.stop, signal.SIGKILL) == -signal.SIGKILL
    assert otlp.spans == []

    await otlp.stop()  # then down altogether while the sentinel starts again
    second = Process(config.source, tmp_path, "second")
    processes.append(second)
    await second.wait_ready()
    await wait_for(lambda: second.log_has("cannot reach the sink"), 20, "a try while down")
    otlp.unavailable(0)
    await otlp.start()
    await wait_for(lambda: len(otlp.by_key()) == 6, 30, "every span after the restart")
    await produce(topic, event(STEPS[1], "k2", opened + 1))
    await wait_for(lambda: len(otlp.by_key()) == 7, 30, "a span of the new process")
    assert await asyncio.to_thread(second.stop) == 0

    assert second.kinds() == [], "the records were not applied again"
    trace = trace_id_of(EXPECTATION, "k1", opened)
    names = sorted(span.name for span in otlp.by_key().values() if span.trace_id == trace)
    assert names == sorted([*STEPS, "finding completed", f"RUN {EXPECTATION}"])
    by_key: dict[tuple[str, str], Received] = {}
    for span in otlp.spans:  # a span sent again is the same span
        assert by_key.setdefault(span.key, span) == span


async def test_a_refused_request_is_dropped_and_counted(
    broker: EmbeddedBroker, topic_factory: Any, produce: Any, tmp_path: Path, otlp: OtlpReceiver
) -> None:
    topic = await topic_factory()
    config = make_config(tmp_path, broker, topic, window="1h", extra=tracing(otlp.url))
    registry = CollectorRegistry()
    watcher = build_watcher(config, out=Findings(), registry=registry)
    task = asyncio.create_task(watcher.run(handle_signals=False))
    try:
        await wait_for(lambda: bool(watcher.source.assigned()), what="partitions assigned")
        otlp.fail_next(Answer(400, "bad span"))
        await produce(topic, event(STEPS[0], "d1", time.time()))
        await wait_for(lambda: bool(otlp.served("/v1/traces", 400)), 15, "the refusal")
        second = round(time.time(), 3)
        await produce(topic, event(STEPS[0], "d2", second))
        await wait_for(lambda: len(otlp.spans) == 1, 15, "the next span")
        labels = {"sink": "otlp", "outcome": "dropped_permanent"}
        assert registry.get_sample_value("sentinel_alerts_sent_total", labels) == 1
        _, details = watcher.readiness()
        assert details["tracing"]["otlp"]["failed"] == 1
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 30)
    assert otlp.spans[0].trace_id == trace_id_of(EXPECTATION, "d2", second), "d1's was dropped"
    assert [request.status for request in otlp.requests] == [400, 200], "never retried"


@pytest.fixture
def rotel(otlp: OtlpReceiver, tmp_path: Path) -> Iterator[str]:
    """A real OpenTelemetry collector (rotel, from its PyPI wheel) that receives OTLP/HTTP
    and exports to the test receiver; its endpoint."""
    found = importlib.util.find_spec("rotel")
    if found is None or found.origin is None:
        pytest.skip("rotel is not installed")
    agent = Path(found.origin).parent / "rotel-agent"
    http, grpc = free_port(), free_port()
    command = [
        str(agent), "start",
        "--otlp-http-endpoint", f"127.0.0.1:{http}",
        "--otlp-grpc-endpoint", f"127.0.0.1:{grpc}",
        "--exporter", "otlp",
        "--otlp-exporter-protocol", "http",
        "--otlp-exporter-endpoint", otlp.url,
        "--batch-timeout", "100ms",
        "--pid-file", str(tmp_path / "rotel.pid"),
        "--log-file", str(tmp_path / "rotel.log"),
    ]  # fmt: skip
    with (tmp_path / "rotel.out").open("wb") as out:
        collector = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", http), 0.2).close()
                break
            except OSError:
                assert collector.poll() is None, (tmp_path / "rotel.out").read_text()
                assert time.monotonic() < deadline, "rotel did not listen"
                time.sleep(0.05)
        yield f"http://127.0.0.1:{http}"
    finally:
        collector.terminate()
        collector.wait(10)


async def test_spans_reach_a_backend_through_a_real_collector(
    broker: EmbeddedBroker,
    topic_factory: Any,
    produce: Any,
    tmp_path: Path,
    otlp: OtlpReceiver,
    rotel: str,
) -> None:
    topic = await topic_factory()
    config = make_config(tmp_path, broker, topic, window="1h", extra=tracing(rotel))
    watcher = build_watcher(config, out=Findings())
    task = asyncio.create_task(watcher.run(handle_signals=False))
    opened = round(time.time(), 3)
    try:
        await wait_for(lambda: bool(watcher.source.assigned()), what="partitions assigned")
        for n, step in enumerate(STEPS):
            await produce(topic, event(step, "c1", opened + n, PRODUCER))
        await wait_for(lambda: len(otlp.by_key()) == 5, 30, "the trace through rotel")
        _, details = watcher.readiness()
        assert details["tracing"]["otlp"]["pending"] == 0
    finally:
        watcher.stop()
        await asyncio.wait_for(task, 30)
    trace = trace_id_of(EXPECTATION, "c1", opened)
    root = one(otlp.spans, f"RUN {EXPECTATION}")
    assert (root.trace_id, root.span_id) == (trace, root_span_id(trace))
    assert root.attributes["cicd.pipeline.result"] == "success"
    step = one(otlp.spans, STEPS[1])
    assert (step.span_id, step.parent_id) == (step_span_id(trace, STEPS[1]), root.span_id)
    assert step.links[0][:2] == (PRODUCER[3:35], PRODUCER[36:52])
    assert root.resource["service.name"] == "rollout-sentinel"
