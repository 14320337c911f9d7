"""`sentinel run` with a schema registry, end to end: the real confluent-kafka producer and
JSON serializer register schemas in a registry served over HTTP and produce framed records
to the embedded broker; the watcher reads them against the right schemas, and rides out a
registry outage in the middle of a rollout (/readyz 503, then 200; nothing lost, no stall)."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer as KafkaProducer
from registry.fake_registry import FakeRegistry
from registry.producer import Producer

from sentinel.core.timefmt import format_rfc3339
from sentinel.kafka.broker import EmbeddedBroker
from sentinel.runtime.watcher import Watcher
from sentinel.runtime.wiring import build_watcher

from .watcher_support import MESSAGING, SCHEMA, SERVICE, Findings, make_config, wait_for

pytestmark = pytest.mark.broker
RENAMED = {"version": "2.0.0", "replica_count": 3}


def writer_schema(title: str, renamed: bool = False) -> dict[str, Any]:
    required = ["rollout_id", "replica_count" if renamed else "replicas"]
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": title,
        "type": "object",
        "required": required if "Running" in title else ["rollout_id"],
    }


class Framing:
    """Binary-mode CloudEvents whose data the confluent JSONSerializer framed, sent by the
    confluent-kafka (librdkafka) producer."""

    def __init__(self, broker: EmbeddedBroker, registry: FakeRegistry, topic: str) -> None:
        self.framer = Producer(registry)
        self.kafka = KafkaProducer({"bootstrap.servers": broker.bootstrap_servers})
        self.topic = topic
        self.serializers: dict[tuple[str, bool], Any] = {}

    def record(
        self, event_type: str, rollout: str, data: dict[str, Any], renamed: bool = False
    ) -> tuple[bytes, list[tuple[str, bytes]]]:
        key = (event_type, renamed)
        if key not in self.serializers:
            schema = writer_schema(event_type, renamed)
            self.serializers[key] = self.framer.serializer(schema, validate=False)
        value, extra = self.framer.frame(self.serializers[key], {"rollout_id": rollout, **data})
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", f"{rollout}-{event_type}-{int(renamed)}".encode()),
            ("ce_type", event_type.encode()),
            ("ce_source", b"/user-service"),
            ("ce_time", format_rfc3339(time.time()).encode()),
            ("content-type", b"application/json"),
            *extra,
        ]
        return value, headers

    def send(self, value: bytes, headers: list[tuple[str, bytes]], key: str) -> None:
        self.kafka.produce(self.topic, value=value, key=key.encode(), headers=headers)
        assert self.kafka.flush(10) == 0

    def close(self) -> None:
        self.kafka.flush(10)
        self.framer.client.close()


@pytest.fixture
def registry() -> Iterator[FakeRegistry]:
    with FakeRegistry() as running:
        yield running


@pytest.fixture
async def watched(
    broker: EmbeddedBroker, registry: FakeRegistry, topic_factory: Any, tmp_path: Path
) -> AsyncIterator[tuple[Watcher, Findings, Framing]]:
    topic = await topic_factory()
    extra = (
        f"registry:\n  url: {registry.url}\n  timeout: 300ms\n  retries: 0\n"
        "  backoff: 20ms\n  backoff_max: 100ms\n"
    )
    config = make_config(tmp_path, broker, topic, window="3s", extra=extra)
    findings = Findings()
    watcher = build_watcher(config, out=findings)
    framing = Framing(broker, registry, topic)
    task = asyncio.create_task(watcher.run(handle_signals=False))
    await wait_for(lambda: bool(watcher.source.assigned()), what="partitions assigned")
    yield watcher, findings, framing
    watcher.stop()
    await asyncio.wait_for(task, 30)
    framing.close()


def readyz(watcher: Watcher) -> int:
    """The /readyz status; call it in a thread: the server runs on the test's event loop."""
    url = f"http://127.0.0.1:{watcher.parts.http.port}/readyz"  # type: ignore[attr-defined]
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def wait_readyz(watcher: Watcher, status: int, what: str) -> None:
    deadline = time.monotonic() + 20
    while await asyncio.to_thread(readyz, watcher) != status:
        assert time.monotonic() < deadline, f"waited 20s for {what}"
        await asyncio.sleep(0.1)


async def test_framed_records_from_the_real_client_are_read_against_the_right_schemas(
    watched: tuple[Watcher, Findings, Framing],
) -> None:
    _, findings, framing = watched
    for step, data in (
        ("SchemaV2_Ready", SCHEMA),
        ("UserServiceV2_Running", SERVICE),
        ("MessagingService_Reconfigured", MESSAGING),
    ):
        framing.send(*framing.record(step, "r1", data), key="r1")
    framing.send(*framing.record("UserServiceV2_Running", "r2", {"version": "2"}), key="r2")
    framing.send(*framing.record("UserServiceV2_Running", "r3", RENAMED, renamed=True), key="r3")
    framing.send(*framing.record("UserServiceV2_Running", "r4", RENAMED, renamed=True), key="r4")
    ghost = b"\x00\x00\x00\x03\xe7" + b'{"rollout_id": "r5"}'
    _, headers = framing.record("SchemaV2_Ready", "r5", {})
    framing.send(ghost, [h for h in headers if not h[0].startswith("__")], key="r5")
    await findings.wait_kind("schema_not_found", timeout_s=20)
    got = [(f["kind"], f["rollout"], f["against"]) for f in findings.items]
    assert got == [
        ("completed", "r1", None),
        ("schema_violation", "r2", "writer"),
        ("schema_changed", "r3", None),
        ("schema_violation", "r3", "reader"),
        ("schema_violation", "r4", "reader"),
        ("schema_not_found", "r5", None),
    ]
    changed = findings.items[2]
    assert changed["previous_schema_id"] != changed["schema_id"]
    assert changed["subject"] == "UserServiceV2_Running" and changed["version"] == 2
    assert findings.items[-1]["schema_id"] == 999


async def test_a_registry_outage_in_the_middle_of_a_rollout_loses_nothing_and_stalls_nothing(
    watched: tuple[Watcher, Findings, Framing], registry: FakeRegistry
) -> None:
    watcher, findings, framing = watched
    framing.send(*framing.record("SchemaV2_Ready", "r1", SCHEMA), key="r1")
    await wait_for(lambda: watcher.engine.view("fast-user-service", "r1") is not None)
    await wait_readyz(watcher, 200, "ready before the outage")
    running = framing.record("UserServiceV2_Running", "r1", SERVICE)  # registered now
    registry.stop()
    framing.send(*running, key="r1")
    await wait_readyz(watcher, 503, "/readyz 503 naming the registry")
    assert watcher.readiness()[1]["registry"]["up"] is False
    await asyncio.sleep(3.5)  # beyond the 3s window of the step: it must not stall
    registry.restart()
    framing.send(*framing.record("MessagingService_Reconfigured", "r1", MESSAGING), key="r1")
    await findings.wait_kind("completed", timeout_s=20)
    await wait_readyz(watcher, 200, "/readyz 200 again")
    assert [f["kind"] for f in findings.items] == ["completed"], "as without the outage"
