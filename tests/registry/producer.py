"""The serializing half of a confluent-kafka JSON producer, against the fake registry: it
registers schemas and frames values exactly as production producers do."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka.schema_registry import (
    Schema,
    SchemaRegistryClient,
    record_subject_name_strategy,
)
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from .fake_registry import FakeRegistry

TOPIC = "rollout.events"


class Producer:
    """A confluent-kafka JSON producer's serializing half, against the fake registry."""

    def __init__(self, registry: FakeRegistry) -> None:
        self.client = SchemaRegistryClient({"url": registry.url})

    def serializer(self, schema: dict[str, Any] | Schema, **conf: Any) -> JSONSerializer:
        text = schema if isinstance(schema, Schema) else json.dumps(schema)
        options = {"subject.name.strategy": record_subject_name_strategy, **conf}
        serializer: JSONSerializer = JSONSerializer(text, self.client, conf=options)
        return serializer

    def frame(
        self, serializer: JSONSerializer, value: dict[str, Any]
    ) -> tuple[bytes, list[tuple[str, bytes]]]:
        headers: list[tuple[str, str | bytes | None]] = []
        framed = serializer(value, SerializationContext(TOPIC, MessageField.VALUE, headers))
        assert framed is not None
        return framed, [(name, raw) for name, raw in headers if isinstance(raw, bytes)]
