"""The live benchmark's records, in each form a bus carries them, and a producer for them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from bench.replay_bench import ROOT
from sentinel.commands.demo_registry import DemoRegistry
from sentinel.commands.demo_script import writer_schemas

# A record to produce: key, value and headers.
Produced = tuple[bytes, bytes, list[tuple[str, bytes]]]
NOISE_TYPES = 20  # types of the shared bus that no expectation names and no schema describes


class Clocked:
    """A findings sink that notes when each finding reached it (for latency)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, bytes]] = []

    def write(self, text: str, /) -> int:
        now = time.time()
        self.lines += [(now, line.encode()) for line in text.splitlines()]
        return len(text)

    def flush(self) -> None:
        pass


async def produce(servers: str, topic: str, records: Sequence[Produced]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5, max_batch_size=256_000)
    await producer.start()
    try:
        pending = []
        for key, value, headers in records:
            pending.append(await producer.send(topic, value, key=key, headers=headers))
            if len(pending) >= 5_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def _key(event: dict[str, Any]) -> bytes:
    # Keyed by rollout, as docs/operations.md recommends: a rollout stays in one partition.
    return str(event.get("subject") or event["data"].get("rollout_id")).encode()


def structured(lines: Sequence[bytes]) -> list[Produced]:
    """Structured CloudEvents, as the log has them."""
    return [(_key(orjson.loads(line)), line, []) for line in lines]


def binary_mode(lines: Sequence[bytes], ids: dict[str, int] | None = None) -> list[Produced]:
    """The same events in Kafka binary mode; with `ids`, framed by a schema registry (`0x00`
    and the 4-byte id of the type's writer schema) where the type has one."""
    records = []
    for line in lines:
        event = orjson.loads(line)
        headers = [
            (f"ce_{name}", str(event[name]).encode())
            for name in ("specversion", "id", "source", "type", "time", "subject")
            if name in event
        ]
        headers.append(("content-type", b"application/json"))
        value = orjson.dumps(event["data"])
        schema_id = None if ids is None else ids.get(event["type"])
        if schema_id is not None:
            value = b"\x00" + schema_id.to_bytes(4, "big") + value
        records.append((_key(event), value, headers))
    return records


def noisy_bus(relevant: Sequence[bytes], mode: str = "mixed") -> list[Produced]:
    """A shared bus: each relevant event after nine events of types that no expectation
    names and no schema describes (orders, payments, ...). `mode`: "mixed" (the noise in
    binary mode, the relevant events structured), "binary" or "structured" (every record)."""
    records: list[Produced] = []
    relevant_records = binary_mode(relevant) if mode == "binary" else structured(relevant)
    for index, record in enumerate(relevant_records):
        for n in range(9):
            number = index * 9 + n
            data = {
                "order_id": f"o-{number}", "customer": f"c-{number % 5000}", "amount": 12.5,
                "currency": "EUR", "items": [{"sku": "a-1", "quantity": 2}],
            }  # fmt: skip
            attributes = {
                "specversion": "1.0", "id": f"n-{number}", "source": "/shop",
                "type": f"Shop{number % NOISE_TYPES}_Happened", "time": "2026-11-25T10:00:00Z",
            }  # fmt: skip
            key = f"o-{number}".encode()
            if mode == "structured":
                records.append((key, orjson.dumps({**attributes, "data": data}), []))
                continue
            headers = [(f"ce_{name}", value.encode()) for name, value in attributes.items()]
            headers.append(("content-type", b"application/json"))
            records.append((key, orjson.dumps(data), headers))
        records.append(record)
    return records


def writer_ids(registry: DemoRegistry) -> dict[str, int]:
    """Each shipped schema registered as its type's writer schema: type -> schema id."""
    return {
        event_type: registry.register(event_type, schema)[0]
        for event_type, schema in writer_schemas(ROOT / "schemas").items()
    }
