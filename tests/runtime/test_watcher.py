"""The live watcher against the real broker: findings, clock, lag gate, metrics, probes."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from sentinel.core.timefmt import format_rfc3339
from sentinel.kafka.broker import EmbeddedBroker
from sentinel.runtime.watcher import Watcher
from sentinel.runtime.wiring import build_watcher

from .watcher_support import (
    MESSAGING,
    SCHEMA,
    SERVICE,
    Findings,
    cloud_event,
    make_config,
    wait_for,
)

pytestmark = pytest.mark.broker

Produce = Callable[..., Any]


class Running:
    """A watcher running as a task, with its findings and its HTTP address."""

    def __init__(self, watcher: Watcher, findings: Findings, task: asyncio.Task[int]) -> None:
        self.watcher, self.findings, self.task = watcher, findings, task

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.watcher.parts.http.port}{path}"

    async def get(self, path: str) -> tuple[int, str]:
        def fetch() -> tuple[int, str]:
            try:
                with urllib.request.urlopen(self.url(path), timeout=5) as response:
                    return response.status, response.read().decode()
            except urllib.error.HTTPError as error:
                return error.code, error.read().decode()

        return await asyncio.to_thread(fetch)

    async def stop(self) -> int:
        self.watcher.stop()
        return await asyncio.wait_for(self.task, 30)


@pytest.fixture
async def start_watcher(
    broker: EmbeddedBroker, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    running: list[Running] = []

    async def start(topic: str, **overrides: Any) -> Running:  # overrides: make_config's
        config = make_config(tmp_path, broker, topic, **overrides)
        findings = Findings()
        watcher = build_watcher(config, out=findings)
        task = asyncio.create_task(watcher.run(handle_signals=False))
        started = Running(watcher, findings, task)
        running.append(started)
        await wait_for(lambda: bool(watcher.source.assigned()), what="partitions assigned")
        return started

    yield start
    for each in running:
        if not each.task.done():
            await each.stop()


async def test_a_rollout_whose_events_all_arrive_completes(
    start_watcher: Any, topic_factory: Any, produce: Produce
) -> None:
    topic = await topic_factory()
    running = await start_watcher(topic)
    await produce(topic, cloud_event("SchemaV2_Ready", "r1", "a1", **SCHEMA))
    await produce(topic, cloud_event("UserServiceV2_Running", "r1", "a2", **SERVICE))
    await produce(topic, cloud_event("MessagingService_Reconfigured", "r1", "a3", **MESSAGING))
    completed = await running.findings.wait_kind("completed")
    assert completed["expectation"] == "fast-user-service"
    assert completed["rollout"] == "r1"
    assert running.findings.kinds() == ["completed"]


async def test_a_silent_stall_is_reported_with_no_further_traffic(
    start_watcher: Any, topic_factory: Any, produce: Produce
) -> None:
    topic = await topic_factory()
    running = await start_watcher(topic)
    sent = time.time()
    await produce(topic, cloud_event("SchemaV2_Ready", "r2", "b1", at=sent, **SCHEMA))
    stall = await running.findings.wait_kind("stall")
    assert stall["step"] == "UserServiceV2_Running"
    assert stall["owner"] == "team-users"
    # Due 2s after the event; fired by the wall clock, no event needed, and never early (how
    # soon after is a figure of `make bench`, not a test: the machine may be busy).
    assert time.time() >= sent + 2


async def test_an_event_that_breaks_its_schema_is_reported_and_advances_nothing(
    start_watcher: Any, topic_factory: Any, produce: Produce
) -> None:
    topic = await topic_factory()
    running = await start_watcher(topic)
    await produce(topic, cloud_event("SchemaV2_Ready", "r3", "c1", **SCHEMA))
    renamed = {"version": "2.0.0", "replica_count": 3}
    await produce(topic, cloud_event("UserServiceV2_Running", "r3", "c2", **renamed))
    violation = await running.findings.wait_kind("schema_violation")
    assert violation["event_id"] == "c2"
    assert violation["errors"] == ['/: "replicas" is a required property']
    await running.findings.wait_kind("stall")  # to the engine the event never arrived


async def test_a_binary_mode_cloudevent_advances_its_rollout(
    start_watcher: Any, topic_factory: Any, produce: Produce
) -> None:
    topic = await topic_factory()
    running = await start_watcher(topic)
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"d1"),
        ("ce_type", b"SchemaV2_Ready"),
        ("ce_source", b"/binary"),
        ("ce_time", format_rfc3339(time.time()).encode()),
        ("content-type", b"application/json"),
    ]
    await produce(topic, orjson.dumps({"rollout_id": "r4", **SCHEMA}), headers=headers)
    await produce(topic, cloud_event("UserServiceV2_Running", "r4", "d2", **SERVICE))
    await produce(topic, cloud_event("MessagingService_Reconfigured", "r4", "d3", **MESSAGING))
    assert (await running.findings.wait_kind("completed"))["rollout"] == "r4"


async def test_a_malformed_record_is_reported_with_where_it_was_read(
    start_watcher: Any, topic_factory: Any, produce: Produce
) -> None:
    topic = await topic_factory()
    running = await start_watcher(topic)
    partition, offset = await produce(topic, b"\xff not json")
    await produce(topic, cloud_event("SchemaV2_Ready", "r5", "e1", **SCHEMA))
    malformed = await running.findings.wait_kind("malformed")
    assert malformed["reason"] == "not UTF-8 text"
    assert malformed["event_source"] == f"{topic}/{partition}@{offset}"
    await wait_for(lambda: running.watcher.engine.view("fast-user-service", "r5") is not None)


async def test_a_redelivered_event_is_counted_once(
    start_watcher: Any, topic_factory: Any, produce: Produce
) -> None:
    topic = await topic_factory()
    running = await start_watcher(topic)
    invalid = cloud_event("UserServiceV2_Running", "r6", "f1", version="x")
    await produce(topic, invalid)
    await produce(topic, invalid)
    await produce(topic, cloud_event("SchemaV2_Ready", "r6", "f2", **SCHEMA))
    registry = running.watcher.registry

    def counted(outcome: str) -> float:
        labels = {"type": "UserServiceV2_Running", "outcome": outcome}
        return registry.get_sample_value("sentinel_events_total", labels) or 0.0

    await wait_for(lambda: counted("duplicate") == 1)
    assert counted("invalid") == 1
    assert running.findings.kinds().count("schema_violation") == 1


async def test_a_backlog_read_after_downtime_raises_no_false_stall(
    start_watcher: Any, topic_factory: Any, produce: Produce
) -> None:
    topic = await topic_factory()
    # Written while the sentinel was down: each step on time, but long ago in wall-clock terms.
    past = time.time() - 600
    await produce(topic, cloud_event("SchemaV2_Ready", "r7", "g1", at=past, **SCHEMA))
    for number in range(30):  # other traffic in between keeps the consumer behind
        await produce(topic, cloud_event("Unrelated_Noise", "x", f"n{number}", at=past + 0.5))
    await produce(topic, cloud_event("UserServiceV2_Running", "r7", "g2", at=past + 1, **SERVICE))
    await produce(topic, cloud_event("MessagingService_Reconfigured", "r7", "g3", at=past + 2,
                                     **MESSAGING))  # fmt: skip
    # One record per batch: without the lag gate, SchemaV2_Ready's window (2s) would fire
    # long before UserServiceV2_Running is read.
    running = await start_watcher(topic, max_batch=1, lag_threshold=0)
    await running.findings.wait_kind("completed", timeout_s=30)
    assert "stall" not in running.findings.kinds()


async def test_metrics_and_probes_tell_what_the_watcher_sees(
    start_watcher: Any, topic_factory: Any, produce: Produce
) -> None:
    topic = await topic_factory()
    running = await start_watcher(topic)
    assert (await running.get("/healthz"))[0] == 200
    await produce(topic, cloud_event("SchemaV2_Ready", "r8", "h1", **SCHEMA))
    await wait_for(lambda: running.watcher.engine.view("fast-user-service", "r8") is not None)

    async def ready() -> bool:
        return (await running.get("/readyz"))[0] == 200

    deadline = time.monotonic() + 15
    while not await ready():
        assert time.monotonic() < deadline, await running.get("/readyz")
        await asyncio.sleep(0.1)
    status, body = await running.get("/metrics")
    assert status == 200
    assert 'sentinel_events_total{outcome="valid",type="SchemaV2_Ready"} 1.0' in body
    assert 'sentinel_rollouts_open{expectation="fast-user-service"} 1.0' in body
    assert "sentinel_expectations_loaded 1.0" in body
    assert f'sentinel_consumer_lag_records{{partition="0",topic="{topic}"}} 0.0' in body
    assert "sentinel_event_clock_skew_seconds_count 1.0" in body


async def test_a_bad_expectation_file_on_reload_keeps_the_old_set_running(
    start_watcher: Any, topic_factory: Any, produce: Produce, tmp_path: Path
) -> None:
    topic = await topic_factory()
    running = await start_watcher(topic, reload_poll="0.1s")
    expectation_file = tmp_path / "expectations" / "fast.yaml"
    good = expectation_file.read_text()
    expectation_file.write_text(good.replace("within: 2s", "within: soon", 1))
    registry = running.watcher.registry
    await wait_for(
        lambda: (
            registry.get_sample_value("sentinel_config_reloads_total", {"outcome": "failure"}) == 1
        )
    )
    expectation_file.write_text(good.replace("within: 2s", "within: 3s", 1))
    await wait_for(
        lambda: (
            registry.get_sample_value("sentinel_config_reloads_total", {"outcome": "success"}) == 1
        )
    )
    await produce(topic, cloud_event("SchemaV2_Ready", "r9", "i1", **SCHEMA))
    assert (await running.findings.wait_kind("stall"))["step"] == "UserServiceV2_Running"


async def test_the_bus_going_silent_is_itself_a_finding(
    start_watcher: Any, topic_factory: Any
) -> None:
    topic = await topic_factory()
    running = await start_watcher(topic, bus_silence="1s")
    silent = await running.findings.wait_kind("bus_silent")
    assert topic in silent["reason"]
    assert running.watcher.registry.get_sample_value("sentinel_bus_silent") == 1


async def test_input_not_keyed_by_rollout_goes_through_the_repartition_topic(
    start_watcher: Any, topic_factory: Any, produce: Produce
) -> None:
    topic = await topic_factory(partitions=3)
    # Two consumer groups join before the first event is through: windows of 30s, not 2s.
    running = await start_watcher(
        topic, state_mode="changelog", kafka_extra="  replication_factor: 1\n", window="30s"
    )
    # One rollout's events on three different partitions, as an unkeyed producer spreads them.
    # Kafka orders nothing across partitions, so each is sent once the previous one was read.
    engine = running.watcher.engine
    at = time.time()
    steps = [
        ("SchemaV2_Ready", SCHEMA, 2),
        ("UserServiceV2_Running", SERVICE, 0),
        ("MessagingService_Reconfigured", MESSAGING, 1),
    ]
    for number, (event_type, data, partition) in enumerate(steps):
        value = cloud_event(event_type, "u1", f"v{number}", at=at + number * 0.1, **data)
        await produce(topic, value, partition=partition)

        def seen(step: str = event_type) -> bool:
            rollout = engine.rollouts["fast-user-service"].get("u1")
            return rollout is not None and step in rollout.seen

        await wait_for(seen, what=f"{event_type} through the repartition topic")
    await produce(topic, b"not json", partition=1)
    completed = await running.findings.wait_kind("completed", timeout_s=30)
    assert completed["rollout"] == "u1"
    malformed = await running.findings.wait_kind("malformed")
    assert malformed["event_source"].startswith(f"{topic}/1@")  # where it was first read
    assert sorted(running.findings.kinds()) == ["completed", "malformed"]
    rollout = running.watcher.engine.rollouts["fast-user-service"]["u1"]
    [home] = rollout.feeds
    assert home.topic == running.watcher.parts.upstream.target
