"""Fixtures for registry tests: a fresh fake registry per test, and settings pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sentinel.registry.settings import RegistrySettings

from .fake_registry import FakeRegistry
from .producer import Producer


@pytest.fixture
def fake_registry() -> Iterator[FakeRegistry]:
    """A running fake registry (Confluent API at `.url`, Apicurio v3 at `.apicurio_url`)."""
    with FakeRegistry() as registry:
        yield registry


@pytest.fixture
def settings(fake_registry: FakeRegistry) -> RegistrySettings:
    """Confluent API settings with short times, so that failing tests fail fast."""
    return RegistrySettings(url=fake_registry.url, timeout=1.0, backoff=0.01, backoff_max=0.05)


@pytest.fixture
def producer(fake_registry: FakeRegistry) -> Iterator[Producer]:
    made = Producer(fake_registry)
    yield made
    made.client.close()  # its httpx client: an open socket is a warning, an error here
