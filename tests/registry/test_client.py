"""The client's own duties: references followed once and never in circles, and the probe."""

from __future__ import annotations

import pytest

from sentinel.core.events.framing import IdKind, SchemaRef
from sentinel.registry.client import (
    ConfluentClient,
    Reference,
    RegisteredSchema,
    _sniff_type,
    make_client,
)
from sentinel.registry.failures import InvalidSchema, RegistryUnavailable, SchemaNotFound
from sentinel.registry.settings import RegistrySettings

from .fake_registry import FakeRegistry


class Circular(ConfluentClient):
    """A registry whose `a` refers to `b` and `b` back to `a`: only a broken one does that."""

    async def version(self, subject: str, version: str) -> RegisteredSchema:
        other = "b" if subject == "a" else "a"
        return RegisteredSchema("{}", "JSON", (Reference(f"{other}.json", other, "1"),))


async def test_references_that_go_round_are_refused_instead_of_followed_for_ever() -> None:
    client = Circular(RegistrySettings(url="http://127.0.0.1:9"))
    root = RegisteredSchema(
        "{}", "JSON", (Reference("a.json", "a", "1"),), SchemaRef(IdKind.CONFLUENT_ID, 5)
    )
    with pytest.raises(InvalidSchema) as raised:
        await client.references(root)
    assert str(raised.value) == "schema id 5: references go round or too deep: a v1 -> b v1 -> a v1"


async def test_a_pinned_reference_shared_by_two_schemas_is_fetched_once(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    fake_registry.register("Address", {"type": "object"})
    for title in ("Moved", "Registered"):
        fake_registry.register(
            title,
            {"title": title, "properties": {"address": {"$ref": "address.json"}}},
            references=[("address.json", "Address", 1)],
        )
    async with make_client(settings) as client:
        for number in (2, 3):
            schema = await client.schema(SchemaRef(IdKind.CONFLUENT_ID, number))
            assert await client.references(schema) == {"address.json": {"type": "object"}}
    assert fake_registry.count("/subjects/Address/versions/1") == 1


@pytest.mark.parametrize("api", ["confluent", "apicurio-v3"])
async def test_the_probe_passes_while_the_registry_answers_and_fails_when_it_stops(
    fake_registry: FakeRegistry, api: str
) -> None:
    url = fake_registry.apicurio_url if api == "apicurio-v3" else fake_registry.url
    settings = RegistrySettings(url=url, api=api, retries=0)  # type: ignore[arg-type]
    async with make_client(settings) as client:
        await client.probe()
        assert client.up
        fake_registry.stop()
        with pytest.raises(RegistryUnavailable):
            await client.probe()
        assert not client.up and client.last_error is not None


class Gone(ConfluentClient):
    """A registry that lost the subject a schema refers to."""

    async def version(self, subject: str, version: str) -> RegisteredSchema:
        raise SchemaNotFound(f"http://r/subjects/{subject}/versions/{version}: Subject gone")


async def test_a_missing_reference_is_not_found_and_names_the_reference() -> None:
    client = Gone(RegistrySettings(url="http://127.0.0.1:9"))
    root = RegisteredSchema(
        "{}", "JSON", (Reference("a.json", "a", "1"),), SchemaRef(IdKind.CONFLUENT_ID, 5)
    )
    with pytest.raises(SchemaNotFound) as raised:
        await client.references(root)
    assert str(raised.value) == (
        "schema id 5: reference 'a.json' (subject a version 1): "
        "http://r/subjects/a/versions/1: Subject gone"
    )


@pytest.mark.parametrize(
    ("content", "schema_type"),
    [
        (b'{"type": "object", "properties": {}}', "JSON"),
        (b'{"type": "record", "name": "Deployed", "fields": []}', "AVRO"),
        (b'["null", "string"]', "AVRO"),
        (b'syntax = "proto3"; message Deployed {}', "PROTOBUF"),
    ],
)
def test_apicurio_content_that_comes_without_a_type_is_recognised(
    content: bytes, schema_type: str
) -> None:
    assert _sniff_type(content) == schema_type
