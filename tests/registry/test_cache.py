"""The cache asks the registry as little as it can: ids once, 404s for a while, latest per TTL."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from sentinel.core.events.framing import IdKind, SchemaRef
from sentinel.registry.cache import Latest, SchemaCache, Unusable
from sentinel.registry.compiler import CompiledSchema
from sentinel.registry.failures import RegistryUnavailable
from sentinel.registry.settings import RegistrySettings

from .fake_registry import FakeRegistry

SCHEMA = {"type": "object", "properties": {"type": {"type": "string"}}}


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def schema_id(number: int) -> SchemaRef:
    return SchemaRef(IdKind.CONFLUENT_ID, number)


async def test_a_404_is_remembered_so_a_busy_consumer_asks_once(
    fake_registry: FakeRegistry, settings: RegistrySettings, clock: Clock
) -> None:
    async with SchemaCache(settings, clock=clock) as cache:
        for _ in range(50):
            await cache.fetch([schema_id(99)])
        found = cache.known(schema_id(99))
    assert fake_registry.count("/schemas/ids/99") == 1
    assert isinstance(found, Unusable) and found.kind == "not_found"
    assert found.message == f"{settings.url}/schemas/ids/99: Schema 99 not found"


async def test_a_404_is_asked_again_after_the_negative_ttl(
    fake_registry: FakeRegistry, settings: RegistrySettings, clock: Clock
) -> None:
    async with SchemaCache(settings, clock=clock) as cache:
        await cache.fetch([schema_id(99)])
        clock.now += settings.not_found_ttl
        assert cache.known(schema_id(99)) is None
        await cache.fetch([schema_id(99)])
    assert fake_registry.count("/schemas/ids/99") == 2


async def test_a_brand_new_id_answered_404_once_is_found_after_the_negative_ttl(
    fake_registry: FakeRegistry, settings: RegistrySettings, clock: Clock
) -> None:
    fake_registry.flaky_new_ids = True  # a replica that has not seen the new id yet
    ref = schema_id(fake_registry.register("Deployed", SCHEMA))
    async with SchemaCache(settings, clock=clock) as cache:
        await cache.fetch([ref])
        first = cache.known(ref)
        clock.now += settings.not_found_ttl
        await cache.fetch([ref])
        second = cache.known(ref)
    assert isinstance(first, Unusable) and first.kind == "not_found"
    assert isinstance(second, CompiledSchema)


async def test_the_latest_version_is_trusted_for_latest_ttl_then_read_again(
    fake_registry: FakeRegistry, settings: RegistrySettings, clock: Clock
) -> None:
    fake_registry.register("Deployed", SCHEMA)
    async with SchemaCache(settings, clock=clock) as cache:
        await cache.fetch(subjects=["Deployed"])
        fake_registry.register("Deployed", {**SCHEMA, "required": ["type"]})
        clock.now += settings.latest_ttl - 1
        await cache.fetch(subjects=["Deployed"])
        before = cache.latest("Deployed")
        clock.now += 1
        assert cache.latest_due("Deployed")
        await cache.fetch(subjects=["Deployed"])
        after = cache.latest("Deployed")
    assert isinstance(before, Latest) and (before.ref, before.version) == (schema_id(1), 1)
    assert isinstance(after, Latest) and (after.ref, after.version) == (schema_id(2), 2)
    assert fake_registry.count("/subjects/Deployed/versions/latest") == 2


async def test_the_latest_versions_schema_is_shared_with_records_that_name_its_id(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    ref = schema_id(fake_registry.register("Deployed", SCHEMA))
    async with SchemaCache(settings) as cache:
        await cache.fetch([ref], ["Deployed"])
        latest = cache.latest("Deployed")
        await cache.fetch([ref])
        assert isinstance(latest, Latest) and latest.schema is cache.known(ref)
    assert fake_registry.count("/schemas/ids/1") == 1


async def test_a_subject_the_registry_does_not_have_is_not_found(
    settings: RegistrySettings,
) -> None:
    async with SchemaCache(settings) as cache:
        await cache.fetch(subjects=["Nobody"])
        found = cache.latest("Nobody")
    assert isinstance(found, Unusable) and found.kind == "not_found"
    assert "Subject 'Nobody' not found." in found.message


async def test_at_most_cache_size_schemas_are_kept_the_least_recently_used_go_first(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    refs = [
        schema_id(fake_registry.register(f"T{n}", {**SCHEMA, "title": f"T{n}"})) for n in (1, 2, 3)
    ]
    async with SchemaCache(replace(settings, cache_size=2)) as cache:
        await cache.fetch(refs[:2])
        cache.known(refs[0])  # used: refs[1] is now the least recently used
        await cache.fetch(refs[2:])
        kept = [cache.known(ref) is not None for ref in refs]
    assert kept == [True, False, True]


async def test_the_same_id_asked_for_twice_at_once_is_fetched_once(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    ref = schema_id(fake_registry.register("Deployed", SCHEMA))
    fake_registry.delay = 0.05
    async with SchemaCache(settings) as cache:
        await asyncio.gather(cache.fetch([ref]), cache.fetch([ref]), cache.fetch([ref]))
        assert isinstance(cache.known(ref), CompiledSchema)
    assert fake_registry.count("/schemas/ids/1") == 1


async def test_a_404_that_is_not_the_registrys_own_is_unavailable_not_a_missing_schema(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    wrong = replace(settings, url=fake_registry.url + "/not-the-api")
    async with SchemaCache(wrong) as cache:
        with pytest.raises(RegistryUnavailable) as raised:
            await cache.fetch([schema_id(1)])
        assert cache.known(schema_id(1)) is None
        assert not cache.up
    assert str(raised.value) == (
        f"{wrong.url}/schemas/ids/1: HTTP 404 "
        '\'{"error_code": 404, "message": "HTTP 404 Not Found"}\' '
        "(not a registry error; is registry.url right?)"
    )
