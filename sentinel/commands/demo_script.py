"""The four simulated rollouts of `sentinel demo`, emitted as their services would: CloudEvents
in Kafka binary mode whose data is framed by the schema registry's id (what a Confluent JSON
serializer writes), each in its deploy pipeline's trace (the CloudEvents `ce_traceparent`
header), with one producer that changes its schema without telling anyone."""

from __future__ import annotations

import asyncio
import copy
import json
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from sentinel.commands.demo_registry import DemoRegistry
from sentinel.core.timefmt import format_rfc3339
from sentinel.kafka.sender import Sender

TOPIC = "rollout.events"
SCHEMA = {"schema_version": "2.0", "migration_id": "m-42"}
SERVICE = {"version": "2.0.0", "replicas": 3}
RENAMED = {"version": "2.0.0", "replica_count": 3}  # the producer's new version


def writer_schemas(schemas: Path) -> dict[str, dict[str, Any]]:
    """What the producers register: the consumers' schemas (`<type>.json`), self-contained
    (the shared `_common.json` definitions written in), as producers and consumers agreed."""
    common = json.loads((schemas / "_common.json").read_text())["$defs"]

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("_common.json#/$defs/"):
                return copy.deepcopy(common[ref.rsplit("/", 1)[1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return {
        path.stem: inline(json.loads(path.read_text()))
        for path in sorted(schemas.glob("*.json"))
        if not path.name.startswith("_")
    }


def renamed_version(schema: dict[str, Any]) -> dict[str, Any]:
    """Version 2 of UserServiceV2_Running: `replicas` became `replica_count`."""
    changed = copy.deepcopy(schema)
    changed["properties"]["replica_count"] = changed["properties"].pop("replicas")
    changed["required"] = ["replica_count" if f == "replicas" else f for f in changed["required"]]
    return changed


class Producers:
    """The services of the demo, writing framed records to the embedded broker."""

    def __init__(self, kafka: Sender, registry: DemoRegistry, schemas: Path) -> None:
        self.kafka, self.registry = kafka, registry
        self.schemas = writer_schemas(schemas)
        # Each rollout's services act in one trace, as a CI/CD system's deploy run would start.
        self.traces: dict[str, str] = {}

    async def emit(
        self, event_type: str, rollout: str, data: dict[str, Any], schema: dict[str, Any]
    ) -> None:
        schema_id, _ = self.registry.register(event_type, schema)
        value = (
            b"\x00" + schema_id.to_bytes(4, "big") + orjson.dumps({"rollout_id": rollout, **data})
        )
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", str(uuid.uuid4()).encode()),
            ("ce_type", event_type.encode()),
            ("ce_source", b"/demo/" + rollout.encode()),
            ("ce_time", format_rfc3339(time.time()).encode()),
            ("content-type", b"application/json"),
            ("ce_traceparent", self.traceparent(rollout).encode()),
        ]
        await self.kafka.send(TOPIC, value, key=rollout.encode(), headers=headers)

    def traceparent(self, rollout: str) -> str:
        """A new span of the rollout's trace: the event's creation context."""
        trace_id = self.traces.setdefault(rollout, secrets.token_hex(16))
        return f"00-{trace_id}-{secrets.token_hex(8)}-01"

    def step(self, event_type: str, rollout: str, data: dict[str, Any]) -> Action:
        return lambda: self.emit(event_type, rollout, data, self.schemas[event_type])


Action = Callable[[], Awaitable[None]]


async def simulate(
    servers: str, registry: DemoRegistry, schemas: Path, speed: float, watching: asyncio.Task[int]
) -> None:
    """Four rollouts of the user service, in the background: one completes, one stalls
    silently, one's producer registers a new schema with a renamed field (the sentinel says
    `schema_changed`, then the consumers' `schema_violation`, then the stall), one rolls back."""
    kafka = Sender(servers)
    await kafka.start()
    services = Producers(kafka, registry, schemas)
    minute = 60.0 / speed
    new_version = renamed_version(services.schemas["UserServiceV2_Running"])
    messaging = {"user_service_version": "2.0.0", "config_revision": 7}
    script: list[tuple[float, Action]] = [
        (0.0, services.step("SchemaV2_Ready", "r-complete", SCHEMA)),
        (0.0, services.step("SchemaV2_Ready", "r-silent", SCHEMA)),
        (0.0, services.step("SchemaV2_Ready", "r-renamed", SCHEMA)),
        (0.0, services.step("SchemaV2_Ready", "r-rollback", SCHEMA)),
        (3.0, services.step("UserServiceV2_Running", "r-complete", SERVICE)),
        (3.5, services.step("UserServiceV2_Running", "r-rollback", SERVICE)),
        # A producer registers a new version with a renamed field and writes with it: its
        # consumer ignores the event, and the rollout would stall in silence.
        (
            4.0,
            lambda: services.emit("UserServiceV2_Running", "r-renamed", RENAMED, new_version),
        ),
        (5.0, services.step("MessagingService_Reconfigured", "r-complete", messaging)),
        (
            6.0,
            services.step(
                "Rollback_Initiated",
                "r-rollback",
                {"reason": "error rate 4%", "initiated_by": "oncall"},
            ),
        ),
        (9.0, services.step("Rollback_Complete", "r-rollback", {"restored_version": "1.9.3"})),
    ]
    started = time.monotonic()

    async def play() -> None:
        try:
            for at_minute, action in script:
                await asyncio.sleep(max(0.0, started + at_minute * minute - time.monotonic()))
                if watching.done():
                    return
                await action()
        finally:
            await kafka.stop()

    asyncio.get_running_loop().create_task(play())
