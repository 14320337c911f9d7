"""A registry that is down, slow, rude or garbled: clear errors, no crash, recovery after."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sentinel.core.events.framing import IdKind, SchemaRef
from sentinel.registry.cache import Latest, SchemaCache
from sentinel.registry.client import make_client
from sentinel.registry.compiler import CompiledSchema
from sentinel.registry.failures import RegistryUnavailable
from sentinel.registry.settings import RegistrySettings

from .fake_registry import FakeRegistry
from .tls import self_signed, server_context

SCHEMA = {"type": "object", "properties": {"type": {"type": "string"}}}


def schema_id(number: int) -> SchemaRef:
    return SchemaRef(IdKind.CONFLUENT_ID, number)


class Sleeps:
    """Records the back-off instead of waiting it."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def cache_with(settings: RegistrySettings, sleeps: Sleeps) -> SchemaCache:
    client = make_client(settings, sleep=sleeps, jitter=lambda: 1.0)
    return SchemaCache(settings, client)


async def test_a_stopped_registry_is_unavailable_while_known_schemas_still_answer(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    old = schema_id(fake_registry.register("Deployed", SCHEMA))
    now = [0.0]
    async with SchemaCache(settings, clock=lambda: now[0]) as cache:
        await cache.fetch([old], ["Deployed"])
        new = schema_id(fake_registry.register("Deployed", {**SCHEMA, "required": ["type"]}))
        fake_registry.stop()
        with pytest.raises(RegistryUnavailable) as raised:
            await cache.fetch([new])
        assert not cache.up and cache.last_error == str(raised.value)
        assert isinstance(cache.known(old), CompiledSchema)
        # A stale latest version is kept and used: no error for it, only `up` says so.
        now[0] += settings.latest_ttl
        await cache.fetch(subjects=["Deployed"])
        stale = cache.latest("Deployed")
        assert isinstance(stale, Latest) and stale.ref == old
        assert not cache.up and not cache.latest_due("Deployed")

        fake_registry.restart()
        now[0] += settings.backoff_max  # a failed re-read is tried again after backoff_max
        await cache.fetch([new], ["Deployed"])
        assert cache.up and cache.last_error is None
        assert isinstance(cache.known(new), CompiledSchema)
        fresh = cache.latest("Deployed")
        assert isinstance(fresh, Latest) and fresh.ref == new
    assert str(raised.value) == (
        f"{settings.url}/schemas/ids/2: cannot connect (Connect call failed "
        f"('127.0.0.1', {fake_registry.port})) (3 attempts)"
    )


async def test_an_unknown_subject_while_the_registry_is_down_is_unavailable(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    fake_registry.stop()
    async with SchemaCache(settings) as cache:
        with pytest.raises(RegistryUnavailable):
            await cache.fetch(subjects=["Deployed"])
        assert cache.latest("Deployed") is None


async def test_a_registry_slower_than_the_timeout_is_unavailable_with_the_timeout_named(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    fake_registry.register("Deployed", SCHEMA)
    fake_registry.delay = 2.0
    quick = replace(settings, timeout=0.2, retries=1)
    started = time.monotonic()
    async with SchemaCache(quick) as cache:
        with pytest.raises(RegistryUnavailable) as raised:
            await cache.fetch([schema_id(1)])
    assert time.monotonic() - started < 1.5
    assert str(raised.value) == (
        f"{settings.url}/schemas/ids/1: no answer within 0.2s (registry.timeout) (2 attempts)"
    )


@pytest.mark.parametrize(
    ("garbage", "complaint"),
    [
        (
            b"<html>Bad gateway</html>",
            "answered 200 with something that is not JSON: '<html>Bad gateway</html>'",
        ),
        (b"", "answered 200 with something that is not JSON: (an empty body)"),
        (b'{"unexpected": true}', "answered an object without a 'schema' string"),
        (b"[1, 2]", "answered a list without a 'schema' string"),
    ],
)
async def test_a_garbled_answer_is_unavailable_with_what_was_wrong(
    fake_registry: FakeRegistry, settings: RegistrySettings, garbage: bytes, complaint: str
) -> None:
    fake_registry.garbage = garbage
    async with SchemaCache(settings) as cache:
        with pytest.raises(RegistryUnavailable) as raised:
            await cache.fetch([schema_id(1)])
        assert not cache.up
    assert str(raised.value) == f"{settings.url}/schemas/ids/1: {complaint}"


async def test_a_garbled_latest_version_is_unavailable_too(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    fake_registry.garbage = b'{"schema": "{}", "version": 1}'  # no id
    async with SchemaCache(settings) as cache:
        with pytest.raises(RegistryUnavailable, match="answered without a schema id"):
            await cache.fetch(subjects=["Deployed"])


async def test_503s_are_retried_with_exponential_back_off_until_the_registry_answers(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    ref = schema_id(fake_registry.register("Deployed", SCHEMA))
    fake_registry.fail_status, fake_registry.fail_remaining = 503, 2
    sleeps = Sleeps()
    async with cache_with(replace(settings, backoff=0.1, backoff_max=1.0), sleeps) as cache:
        await cache.fetch([ref])
        assert isinstance(cache.known(ref), CompiledSchema) and cache.up
    assert sleeps.delays == [0.1, 0.2]
    assert fake_registry.count("/schemas/ids/1") == 3


async def test_the_back_off_never_waits_longer_than_backoff_max(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    fake_registry.fail_status = 500
    sleeps = Sleeps()
    slow = replace(settings, retries=5, backoff=0.1, backoff_max=0.3)
    async with cache_with(slow, sleeps) as cache:
        with pytest.raises(RegistryUnavailable, match=r"HTTP 500 .* \(6 attempts\)$"):
            await cache.fetch([schema_id(1)])
    assert sleeps.delays == [0.1, 0.2, 0.3, 0.3, 0.3]


async def test_a_429_retry_after_is_honoured(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    ref = schema_id(fake_registry.register("Deployed", SCHEMA))
    fake_registry.fail_status, fake_registry.fail_remaining = 429, 1
    fake_registry.retry_after = "2"
    sleeps = Sleeps()
    async with cache_with(replace(settings, backoff=0.1, backoff_max=5.0), sleeps) as cache:
        await cache.fetch([ref])
    assert sleeps.delays == [2.0]


async def test_a_retry_after_longer_than_backoff_max_ends_the_retries_and_is_passed_on(
    fake_registry: FakeRegistry, settings: RegistrySettings
) -> None:
    fake_registry.fail_status, fake_registry.retry_after = 429, "60"
    sleeps = Sleeps()
    async with cache_with(settings, sleeps) as cache:
        with pytest.raises(RegistryUnavailable) as raised:
            await cache.fetch([schema_id(1)])
    assert raised.value.retry_after == 60.0
    assert "asked to retry after 60s" in str(raised.value)
    assert sleeps.delays == [] and fake_registry.count("/schemas/ids/1") == 1


async def test_a_401_is_not_retried_and_says_which_keys_to_check(
    settings: RegistrySettings,
) -> None:
    with FakeRegistry(token="right") as guarded:
        wrong = replace(settings, url=guarded.url, token="wrong")
        async with SchemaCache(wrong) as cache:
            with pytest.raises(RegistryUnavailable) as raised:
                await cache.fetch([schema_id(1)])
        assert guarded.count("/schemas/ids/1") == 1
    assert str(raised.value) == (
        f"{guarded.url}/schemas/ids/1: HTTP 401 "
        '\'{"error_code": 401, "message": "Unauthorized"}\' '
        "(check registry.username/password_env or token_env)"
    )


async def test_a_bearer_token_is_sent() -> None:
    with FakeRegistry(token="s3cret") as guarded:
        guarded.register("Deployed", SCHEMA)
        settings = RegistrySettings(url=guarded.url, token="s3cret")
        async with SchemaCache(settings) as cache:
            await cache.fetch([schema_id(1)])
            assert isinstance(cache.known(schema_id(1)), CompiledSchema)
        assert {seen.authorization for seen in guarded.requests} == {"Bearer s3cret"}


async def test_basic_auth_is_sent() -> None:
    with FakeRegistry(basic_auth=("sentinel", "pa:ss")) as guarded:
        guarded.register("Deployed", SCHEMA)
        settings = RegistrySettings(url=guarded.url, username="sentinel", password="pa:ss")
        async with SchemaCache(settings) as cache:
            await cache.fetch([schema_id(1)])
            assert isinstance(cache.known(schema_id(1)), CompiledSchema)
        assert {seen.authorization for seen in guarded.requests} == {"Basic c2VudGluZWw6cGE6c3M="}


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[tuple[FakeRegistry, Path]]:
    cert, key = self_signed(tmp_path)
    with FakeRegistry(ssl_context=server_context(cert, key)) as registry:
        registry.register("Deployed", SCHEMA)
        yield registry, cert


async def test_a_ca_file_lets_the_client_trust_the_registrys_certificate(
    tls_registry: tuple[FakeRegistry, Path],
) -> None:
    registry, cert = tls_registry
    settings = RegistrySettings(url=registry.url, ca_file=cert, timeout=2.0)
    async with SchemaCache(settings) as cache:
        await cache.fetch([schema_id(1)])
        assert isinstance(cache.known(schema_id(1)), CompiledSchema)
    assert registry.url.startswith("https://")


async def test_without_the_ca_file_the_certificate_is_refused_at_once(
    tls_registry: tuple[FakeRegistry, Path],
) -> None:
    registry, _ = tls_registry
    settings = RegistrySettings(url=registry.url, timeout=2.0, backoff=0.01)
    async with SchemaCache(settings) as cache:
        with pytest.raises(RegistryUnavailable, match=r"TLS failed .*check registry.ca_file"):
            await cache.fetch([schema_id(1)])
    assert registry.count("/schemas/ids/1") == 0
