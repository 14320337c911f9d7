"""Apicurio's byte layouts (fixtures transcribed from its Java serdes) read end to end through
its v3 API: the 8-byte globalId header, the 4-byte contentId prefix, the 8-byte prefix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sentinel.core.events.framing import IdKind, SchemaRef, unframe
from sentinel.registry.cache import SchemaCache, Unusable
from sentinel.registry.compiler import CompiledSchema
from sentinel.registry.settings import RegistrySettings

from .fake_registry import FakeRegistry

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "apicurio_records.json").read_text())
RECORDS = FIXTURES["records"]
DEPLOYED_V1: dict[str, Any] = {
    "type": "object",
    "properties": {"type": {"type": "string"}, "service": {"type": "string"}},
    "required": ["type", "service"],
}
DEPLOYED_V2 = {
    **DEPLOYED_V1,
    "properties": {**DEPLOYED_V1["properties"], "replicas": {"type": "integer"}},
}


def record(fixture: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
    value = (
        bytes.fromhex(fixture["magic_hex"] + fixture["id_hex"])
        + json.dumps(fixture["value_json"], separators=(",", ":")).encode()
    )
    headers = [(h["name"], bytes.fromhex(h["value_hex"])) for h in fixture["headers"]]
    return value, headers


@pytest.fixture
def apicurio(fake_registry: FakeRegistry) -> RegistrySettings:
    """The store the fixtures' ids point at: globalId 3 and contentId 3 are Deployed v2."""
    fake_registry.register("Audit", {"type": "object"})
    fake_registry.register("Deployed", DEPLOYED_V1)
    fake_registry.register("Deployed", DEPLOYED_V2)
    assert fake_registry.global_id("Deployed", 2) == 3
    return RegistrySettings(
        url=fake_registry.apicurio_url, api="apicurio-v3", timeout=1.0, backoff=0.01
    )


@pytest.mark.parametrize("fixture", RECORDS, ids=[r["name"] for r in RECORDS])
def test_each_apicurio_layout_names_its_id_and_leaves_the_producers_json(
    fixture: dict[str, Any],
) -> None:
    value, headers = record(fixture)
    framed = unframe(value, headers)
    assert framed.ref == SchemaRef(IdKind(fixture["expect"]["kind"]), fixture["expect"]["id"])
    assert framed.payload is not None
    assert json.loads(framed.payload) == fixture["value_json"]


@pytest.mark.parametrize("fixture", RECORDS, ids=[r["name"] for r in RECORDS])
async def test_each_apicurio_layout_is_checked_against_its_writer_schema_from_the_v3_api(
    fixture: dict[str, Any], apicurio: RegistrySettings
) -> None:
    value, headers = record(fixture)
    framed = unframe(value, headers)
    assert framed.ref is not None and framed.payload is not None
    async with SchemaCache(apicurio) as cache:
        await cache.fetch([framed.ref])
        schema = cache.known(framed.ref)
    assert isinstance(schema, CompiledSchema)
    assert (schema.subject, schema.version) == ("Deployed", 2)
    errors = schema.check(json.loads(framed.payload))
    assert (errors == []) is fixture["expect"]["valid"]
    if not fixture["expect"]["valid"]:
        assert errors == ['/replicas: "three" is not of type "integer"']


async def test_an_avro_artifact_named_by_content_id_is_unsupported(
    fake_registry: FakeRegistry, apicurio: RegistrySettings
) -> None:
    avro = {"type": "record", "name": "Legacy", "fields": [{"name": "id", "type": "string"}]}
    content_id = fake_registry.register("Legacy", avro, schema_type="AVRO")
    ref = SchemaRef(IdKind.APICURIO_CONTENT_ID, content_id)
    async with SchemaCache(apicurio) as cache:
        await cache.fetch([ref])
        found = cache.known(ref)
    assert isinstance(found, Unusable) and found.kind == "unsupported_type"
    assert "AVRO" in found.message


async def test_an_unknown_global_id_is_not_found_with_apicurios_problem_detail(
    apicurio: RegistrySettings,
) -> None:
    ref = SchemaRef(IdKind.APICURIO_GLOBAL_ID, 99)
    async with SchemaCache(apicurio) as cache:
        await cache.fetch([ref])
        found = cache.known(ref)
    assert isinstance(found, Unusable) and found.kind == "not_found"
    assert "No artifact with global ID '99' found." in found.message


async def test_the_latest_version_of_an_artifact_is_read_by_its_global_id(
    apicurio: RegistrySettings,
) -> None:
    async with SchemaCache(apicurio) as cache:
        await cache.fetch(subjects=["Deployed", "default/Audit"])
        deployed, audit = cache.latest("Deployed"), cache.latest("default/Audit")
    assert deployed is not None and not isinstance(deployed, Unusable)
    assert (deployed.ref, deployed.version) == (SchemaRef(IdKind.APICURIO_GLOBAL_ID, 3), 2)
    assert audit is not None and not isinstance(audit, Unusable)
    assert audit.ref == SchemaRef(IdKind.APICURIO_GLOBAL_ID, 1)


async def test_references_resolve_through_apicurios_references_endpoint(
    fake_registry: FakeRegistry,
) -> None:
    fake_registry.register("Address", {"type": "object", "required": ["city"]})
    content_id = fake_registry.register(
        "Customer",
        {"type": "object", "properties": {"address": {"$ref": "address.json"}}},
        references=[("address.json", "Address", 1)],
    )
    settings = RegistrySettings(url=fake_registry.apicurio_url, api="apicurio-v3", timeout=1.0)
    ref = SchemaRef(IdKind.APICURIO_CONTENT_ID, content_id)
    async with SchemaCache(settings) as cache:
        await cache.fetch([ref])
        schema = cache.known(ref)
    assert isinstance(schema, CompiledSchema)
    assert schema.check({"address": {}}) == ['/address: "city" is a required property']
    assert fake_registry.count("/apis/registry/v3/groups/default/artifacts/Address/versions/1") == 1
