"""The watcher with a schema registry (fake source, real HTTP to the fake registry, records
framed by the real confluent-kafka serializer): the right schema is applied, a change is said
once, and while the registry is down or slow records wait: no event lost, no false stall,
/readyz names the registry, and the findings are those of a run without an outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from runtime.fake_source import Clock, FakeSource, opened_watchers
from runtime.watcher_support import FAST_EXPECTATION, Findings

from sentinel.core.events.records import Partition
from sentinel.core.timefmt import format_rfc3339
from sentinel.registry.settings import RegistrySettings
from sentinel.runtime.watcher import Watcher

from .fake_registry import FakeRegistry
from .producer import Producer

T0 = 1_795_600_800.0
P0 = Partition("rollout.events", 0)


def writer_schema(title: str, required: list[str]) -> dict[str, Any]:
    """A producer's JSON Schema for the data of one event type (its subject: the title)."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": title,
        "type": "object",
        "required": ["rollout_id", *required],
    }


class Bus:
    """CloudEvents in Kafka binary mode whose data a confluent serializer framed."""

    def __init__(self, producer: Producer, source: FakeSource) -> None:
        self.producer, self.source = producer, source
        self.serializers: dict[tuple[str, int], Any] = {}

    def send(
        self, event_type: str, rollout: str, at: float, data: dict[str, Any], writer: int = 1
    ) -> None:
        value, headers = self.frame(event_type, rollout, at, data, writer)
        self.source.append(P0, value, headers=headers)

    def frame(
        self, event_type: str, rollout: str, at: float, data: dict[str, Any], writer: int = 1
    ) -> tuple[bytes, list[tuple[str, bytes]]]:
        """The record's value and headers (the producer registers its schema on first use);
        `writer`: which version of the type's schema the producer writes with."""
        key = (event_type, writer)
        if key not in self.serializers:
            schema = writer_schema(event_type, ["version"] if "Running" in event_type else [])
            if writer == 2:
                schema["description"] = "version 2: replicas renamed replica_count"
            elif writer > 2:
                schema["description"] = f"revision {writer}"
            self.serializers[key] = self.producer.serializer(schema, validate=False)
        value, extra = self.producer.frame(self.serializers[key], {"rollout_id": rollout, **data})
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", f"{rollout}-{event_type}-{writer}".encode()),
            ("ce_type", event_type.encode()),
            ("ce_source", b"/producer"),
            ("ce_time", format_rfc3339(at).encode()),
            ("content-type", b"application/json"),
            *extra,
        ]
        return value, headers


SCHEMA = {"schema_version": "2", "migration_id": "m-1"}
SERVICE = {"version": "2.0.0", "replicas": 3}
MESSAGING = {"user_service_version": "2.0.0", "config_revision": 7}
RENAMED = {"version": "2.0.0", "replica_count": 3}
Start = Callable[..., Any]


@pytest.fixture
async def start(tmp_path: Path, fake_registry: FakeRegistry) -> AsyncIterator[Start]:
    folder = tmp_path / "expectations"
    folder.mkdir()
    (folder / "fast.yaml").write_text(FAST_EXPECTATION)  # windows of 2s
    settings = RegistrySettings(
        url=fake_registry.url, timeout=0.3, retries=0, backoff=0.02, backoff_max=0.1
    )
    async with opened_watchers(folder, registry=settings, lag_threshold=0) as open_watcher:
        yield open_watcher


async def steps_until(watcher: Watcher, condition: Callable[[], bool], what: str) -> None:
    """Run the loop (the registry is asked in the background) until `condition` holds."""
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, f"waited 10s for {what}"
        await watcher.step()
        await asyncio.sleep(0.01)


def kinds(findings: Findings) -> list[str]:
    return [item["kind"] for item in findings.items]


async def test_framed_events_are_held_to_their_writer_and_reader_schemas(
    start: Start, producer: Producer
) -> None:
    source, clock = FakeSource([P0]), Clock(T0 + 1)
    bus = Bus(producer, source)
    watcher, findings = await start(source, clock)
    bus.send("SchemaV2_Ready", "r1", T0, SCHEMA)
    bus.send("UserServiceV2_Running", "r1", T0 + 0.2, SERVICE)
    bus.send("MessagingService_Reconfigured", "r1", T0 + 0.4, MESSAGING)
    bus.send("SchemaV2_Ready", "r2", T0 + 0.5, SCHEMA)
    bus.send("UserServiceV2_Running", "r2", T0 + 0.6, {"replicas": 3})  # no version: writer says no
    # A producer registers version 2 with a renamed field and writes with it.
    bus.send("UserServiceV2_Running", "r3", T0 + 0.7, RENAMED, writer=2)
    bus.send("UserServiceV2_Running", "r4", T0 + 0.8, RENAMED, writer=2)
    await steps_until(watcher, lambda: len(findings.items) >= 5, "the findings")
    assert kinds(findings) == [
        "completed",
        "schema_violation",
        "schema_changed",
        "schema_violation",
        "schema_violation",
    ]
    writer, changed, reader, _ = findings.items[1:]
    assert (writer["rollout"], writer["against"]) == ("r2", "writer")
    assert writer["errors"] == ['/: "version" is a required property']
    assert (changed["schema_id"], changed["previous_schema_id"]) == (4, 2)  # as registered
    assert (changed["subject"], changed["version"], changed["event_source"]) == (
        "UserServiceV2_Running",
        2,
        "/producer",
    )
    assert (reader["rollout"], reader["against"]) == ("r3", "reader")
    assert reader["errors"] == ['/: "replicas" is a required property']


async def test_a_record_naming_an_id_the_registry_lacks_is_schema_not_found(
    start: Start, producer: Producer
) -> None:
    source, clock = FakeSource([P0]), Clock(T0 + 1)
    watcher, findings = await start(source, clock)
    ghost = b"\x00\x00\x00\x03\xe7" + b'{"rollout_id": "r1", "schema_version": "2"}'
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"g1"), ("ce_type", b"SchemaV2_Ready")]
    source.append(P0, ghost, headers=[*headers, ("ce_source", b"/p")])
    await steps_until(watcher, lambda: bool(findings.items), "schema_not_found")
    [missing] = findings.items
    assert (missing["kind"], missing["schema_id"], missing["event_id"]) == (
        "schema_not_found",
        999,
        "g1",
    )
    assert "999" in (missing["reason"] or "")
    assert watcher.engine.view("fast-user-service", "r1") is None


async def run_through_an_outage(
    start: Start, producer: Producer, registry: FakeRegistry, outage: Callable[[], None]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A rollout whose second step comes while the registry is unusable, on time by its event
    time but read after its due time; the readiness answers during the outage."""
    source, clock = FakeSource([P0]), Clock(T0 + 0.1)
    bus = Bus(producer, source)
    watcher, findings = await start(source, clock)
    bus.send("SchemaV2_Ready", "r1", T0, SCHEMA)
    await steps_until(
        watcher, lambda: watcher.engine.view("fast-user-service", "r1") is not None, "r1"
    )
    # Written with a schema the sentinel has not read yet (registered before the outage).
    value, headers = bus.frame("UserServiceV2_Running", "r1", T0 + 1, SERVICE, writer=2)
    outage()
    source.append(P0, value, headers=headers)
    clock.now = T0 + 5  # Running was due at T0 + 2: read late, sent in time
    await steps_until(watcher, lambda: bool(watcher.parts.registry.waiting), "the record to wait")
    await steps_until(watcher, lambda: not watcher.readiness()[0], "/readyz to say 503")
    ready, details = watcher.readiness()
    during = [{"ready": ready, **details["registry"]}]
    assert watcher.registry.get_sample_value("sentinel_registry_up") == 0
    registry.delay, registry.garbage = 0.0, None
    if not registry.running:
        registry.restart()
    bus.send("MessagingService_Reconfigured", "r1", T0 + 1.5, MESSAGING)
    await steps_until(watcher, lambda: "completed" in kinds(findings), "completed")
    assert watcher.readiness()[0] is True
    assert watcher.registry.get_sample_value("sentinel_registry_up") == 1
    return findings.items, during


async def test_while_the_registry_is_down_records_wait_and_no_false_stall_fires(
    start: Start, producer: Producer, fake_registry: FakeRegistry
) -> None:
    found, during = await run_through_an_outage(start, producer, fake_registry, fake_registry.stop)
    assert [item["kind"] for item in found] == ["completed"], "as without the outage"
    [state] = during
    assert state["ready"] is False and state["up"] is False
    assert state["url"] == fake_registry.url and state["waiting"] == ["rollout.events/0"]
    assert "cannot connect" in state["error"] or "refused" in state["error"], state["error"]


async def test_a_registry_slow_at_start_is_asked_again_until_it_answers(
    start: Start, fake_registry: FakeRegistry
) -> None:
    """No record needs it yet, and still the sentinel learns that it answers: otherwise a
    single slow answer at start left /readyz at 503 for as long as the bus was quiet."""
    fake_registry.delay = 1.0  # beyond registry.timeout: the probe at start fails
    watcher, _ = await start(FakeSource([P0]), Clock(T0))
    ready, details = watcher.readiness()
    assert ready is False and details["registry"]["up"] is False
    fake_registry.delay = 0.0
    await steps_until(watcher, lambda: watcher.readiness()[0], "/readyz to say 200")
    assert watcher.registry.get_sample_value("sentinel_registry_up") == 1


async def test_a_registry_slower_than_the_timeout_is_an_outage_with_a_clear_reason(
    start: Start, producer: Producer, fake_registry: FakeRegistry
) -> None:
    def slow() -> None:
        fake_registry.delay = 1.0  # beyond registry.timeout

    found, during = await run_through_an_outage(start, producer, fake_registry, slow)
    assert [item["kind"] for item in found] == ["completed"]
    assert "no answer within" in during[0]["error"], during[0]["error"]


async def test_a_registry_answering_garbage_is_an_outage_with_a_clear_reason(
    start: Start, producer: Producer, fake_registry: FakeRegistry
) -> None:
    def garbage() -> None:
        fake_registry.garbage = b"<html>502 Bad Gateway</html>"

    found, during = await run_through_an_outage(start, producer, fake_registry, garbage)
    assert [item["kind"] for item in found] == ["completed"]
    assert during[0]["ready"] is False
    assert during[0]["error"], "the reason is given"


async def test_a_flapping_registry_loses_no_event_and_raises_no_false_stall(
    start: Start, producer: Producer, fake_registry: FakeRegistry
) -> None:
    """Four outages in a row, each while a record written with a schema the sentinel has not
    read waits for it, with the rollout's deadlines passing meanwhile on the wall clock."""
    source, clock = FakeSource([P0]), Clock(T0 + 0.1)
    bus = Bus(producer, source)
    watcher, findings = await start(source, clock)
    for turn in range(4):
        rollout, at = f"r{turn}", T0 + turn * 10
        clock.now = at + 0.1
        # Written (and registered by the producer) while the registry is up; each turn's
        # second step with a schema revision the sentinel has not read yet.
        records = [
            bus.frame("SchemaV2_Ready", rollout, at, SCHEMA),
            bus.frame("UserServiceV2_Running", rollout, at + 1, SERVICE, writer=3 + turn),
            bus.frame("MessagingService_Reconfigured", rollout, at + 1.5, MESSAGING),
        ]
        fake_registry.stop()
        for value, headers in records:
            source.append(P0, value, headers=headers)
        clock.now = at + 6  # both later steps were due by now; all were sent in time
        await steps_until(watcher, lambda: bool(watcher.parts.registry.waiting), "the wait")
        for _ in range(5):
            await watcher.step()
        assert "stall" not in kinds(findings), f"turn {turn}: held while it waits"
        fake_registry.restart()
        done = turn + 1
        await steps_until(
            watcher,
            lambda done=done: kinds(findings).count("completed") == done,
            f"{rollout} to complete",
        )
    assert sorted(set(kinds(findings))) == ["completed", "schema_changed"], findings.items
    assert kinds(findings).count("completed") == 4
