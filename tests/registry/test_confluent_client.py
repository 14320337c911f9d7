"""Records framed by the real confluent-kafka client, read back and checked by the sentinel.

`SchemaRegistryClient` and `JSONSerializer` register the schemas in the fake registry over
HTTP and frame the values exactly as production producers do; `unframe` and the cache read
them back.
"""

from __future__ import annotations

import json

import orjson
from confluent_kafka.schema_registry import (
    Schema,
    SchemaReference,
    header_schema_id_serializer,
)
from confluent_kafka.schema_registry.json_schema import JSONSerializer

from sentinel.core.events.framing import IdKind, SchemaRef, Unframed, unframe
from sentinel.registry.cache import Latest, SchemaCache, Unusable
from sentinel.registry.compiler import CompiledSchema
from sentinel.registry.settings import RegistrySettings

from .fake_registry import FakeRegistry
from .producer import TOPIC, Producer

DEPLOYED = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Deployed",
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "data": {
            "type": "object",
            "properties": {"user_id": {"type": "string"}},
            "required": ["user_id"],
        },
    },
    "required": ["type", "data"],
}
# Version 2 renames a field: what a consumer built against version 1 cannot read.
DEPLOYED_V2 = {
    **DEPLOYED,
    "properties": {
        "type": {"type": "string"},
        "data": {
            "type": "object",
            "properties": {"account_id": {"type": "string"}},
            "required": ["account_id"],
        },
    },
}


async def read_back(
    settings: RegistrySettings, framed: Unframed, subjects: tuple[str, ...] = ()
) -> tuple[CompiledSchema | Unusable | None, SchemaCache]:
    assert framed.ref is not None, framed
    cache = SchemaCache(settings)
    await cache.fetch([framed.ref], subjects)
    await cache.close()
    return cache.known(framed.ref), cache


async def test_a_record_from_the_json_serializer_is_checked_against_its_writer_schema(
    producer: Producer, fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    # A producer whose own validation is off: the sentinel is the one who notices.
    serializer = producer.serializer(DEPLOYED, validate=False)
    good = unframe(*producer.frame(serializer, {"type": "Deployed", "data": {"user_id": "u1"}}))
    bad = unframe(*producer.frame(serializer, {"type": "Deployed", "data": {"user": "u1"}}))
    assert good.ref == bad.ref == SchemaRef(IdKind.CONFLUENT_ID, 1)
    schema, _ = await read_back(settings, good)
    assert isinstance(schema, CompiledSchema)
    assert (schema.subject, schema.version) == ("Deployed", 1)
    assert schema.check(orjson.loads(good.payload or b"")) == []
    assert schema.check(orjson.loads(bad.payload or b"")) == [
        '/data: "user_id" is a required property'
    ]


async def test_the_topic_name_strategy_subject_is_found_with_a_topic_template(
    producer: Producer, fake_registry: FakeRegistry
) -> None:
    serializer = JSONSerializer(json.dumps(DEPLOYED), producer.client)  # {topic}-value
    producer.frame(serializer, {"type": "Deployed", "data": {"user_id": "u1"}})
    settings = RegistrySettings(url=fake_registry.url, subject="{topic}-value")
    subject = settings.subject_for("Deployed", TOPIC)
    async with SchemaCache(settings) as cache:
        await cache.fetch(subjects=[subject])
        latest = cache.latest(subject)
    assert subject == "rollout.events-value"
    assert isinstance(latest, Latest) and latest.ref == SchemaRef(IdKind.CONFLUENT_ID, 1)


async def test_a_reference_to_another_subject_resolves_through_the_registry(
    producer: Producer, fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    address = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    producer.client.register_schema("Address", Schema(json.dumps(address), "JSON"))
    customer = {
        "title": "CustomerMoved",
        "type": "object",
        "properties": {"type": {"type": "string"}, "address": {"$ref": "address.json"}},
    }
    schema = Schema(json.dumps(customer), "JSON", [SchemaReference("address.json", "Address", 1)])
    serializer = producer.serializer(schema, validate=False)
    framed = unframe(*producer.frame(serializer, {"type": "CustomerMoved", "address": {}}))
    compiled, _ = await read_back(settings, framed)
    assert isinstance(compiled, CompiledSchema)
    assert compiled.check(orjson.loads(framed.payload or b"")) == [
        '/address: "city" is a required property'
    ]
    assert compiled.check({"address": {"city": "Lyon"}}) == []


async def test_a_renamed_field_in_version_two_is_a_different_schema_id(
    producer: Producer, fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    old = unframe(
        *producer.frame(
            producer.serializer(DEPLOYED), {"type": "Deployed", "data": {"user_id": "a"}}
        )
    )
    new = unframe(
        *producer.frame(
            producer.serializer(DEPLOYED_V2), {"type": "Deployed", "data": {"account_id": "a"}}
        )
    )
    assert old.ref == SchemaRef(IdKind.CONFLUENT_ID, 1)
    assert new.ref == SchemaRef(IdKind.CONFLUENT_ID, 2)
    async with SchemaCache(settings) as cache:
        await cache.fetch([old.ref, new.ref], ["Deployed"])
        v1, v2, latest = cache.known(old.ref), cache.known(new.ref), cache.latest("Deployed")
    assert isinstance(v1, CompiledSchema) and isinstance(v2, CompiledSchema)
    assert (v2.subject, v2.version) == ("Deployed", 2)
    assert isinstance(latest, Latest) and (latest.ref, latest.version) == (new.ref, 2)
    # What version 2 writes, a consumer of version 1 cannot read.
    assert v2.check(orjson.loads(new.payload or b"")) == []
    assert v1.check(orjson.loads(new.payload or b"")) == ['/data: "user_id" is a required property']


async def test_a_guid_in_the_header_is_looked_up_by_guid(
    producer: Producer, fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    serializer = producer.serializer(
        DEPLOYED, **{"schema.id.serializer": header_schema_id_serializer}
    )
    value, headers = producer.frame(serializer, {"type": "Deployed", "data": {"user_id": "u1"}})
    framed = unframe(value, headers)
    assert framed.ref == SchemaRef(IdKind.CONFLUENT_GUID, fake_registry.guid(1))
    assert framed.payload == value  # the header carries the id; the value is all JSON
    compiled, _ = await read_back(settings, framed)
    assert isinstance(compiled, CompiledSchema)
    assert compiled.check(orjson.loads(value)) == []


async def test_a_ref_to_a_url_that_is_not_a_declared_reference_is_refused_and_named(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    url = "https://schemas.example.com/address.json"
    schema_id = fake_registry.register(
        "Moved", {"type": "object", "properties": {"address": {"$ref": url}}}
    )
    ref = SchemaRef(IdKind.CONFLUENT_ID, schema_id)
    async with SchemaCache(settings) as cache:
        await cache.fetch([ref])
        found = cache.known(ref)
    assert isinstance(found, Unusable) and found.kind == "invalid_schema"
    assert f"$ref {url} is not one of the schema's references" in found.message


async def test_an_avro_schema_id_is_unsupported_and_remembered(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    avro = '{"type": "record", "name": "Deployed", "fields": []}'
    ref = SchemaRef(IdKind.CONFLUENT_ID, fake_registry.register("Deployed", avro, "AVRO"))
    async with SchemaCache(settings) as cache:
        await cache.fetch([ref])
        await cache.fetch([ref])
        found = cache.known(ref)
    assert isinstance(found, Unusable) and found.kind == "unsupported_type"
    assert found.message == (
        "schema id 1 is an AVRO schema; only JSON Schema can check JSON events"
    )
    assert fake_registry.count("/schemas/ids/1") == 1


async def test_a_fetched_schema_is_answered_from_memory_without_asking_again(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    ref = SchemaRef(IdKind.CONFLUENT_ID, fake_registry.register("Deployed", DEPLOYED))
    async with SchemaCache(settings) as cache:
        await cache.fetch([ref])
        asked = len(fake_registry.requests)
        answers = {id(cache.known(ref)) for _ in range(1000)}
        await cache.fetch([ref])
    assert len(answers) == 1
    assert len(fake_registry.requests) == asked
