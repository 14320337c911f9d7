"""The schema registry for the one-shot commands (`check --registry`, `replay --registry`),
which run no event loop of their own: each call into the registry runs one to its end."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sentinel.core.engine.writer_schemas import Need, WriterLookup
from sentinel.core.errors import SentinelError
from sentinel.core.pipeline.replay import Fetch
from sentinel.core.rules.expectations import Expectation
from sentinel.registry.cache import SchemaCache
from sentinel.registry.check import registry_report
from sentinel.registry.failures import RegistryUnavailable
from sentinel.registry.lookup import RegistryWriters
from sentinel.registry.settings import settings_for_url


def check_registry(url: str, expectations: Sequence[Expectation], schemas: str | None) -> list[str]:
    """`check --registry`: a line per event type of every expectation (writer and reader)."""
    return asyncio.run(
        registry_report(url, expectations, None if schemas is None else Path(schemas))
    )


@contextmanager
def registry_writers(
    url: str, known_types: Collection[str]
) -> Iterator[tuple[WriterLookup, Fetch]]:
    """For `replay --registry`: the lookup, and the fetch that a replay calls when records
    wait (RegistryUnavailable becomes a SentinelError: a replay has nobody to wait for)."""
    loop = asyncio.new_event_loop()
    writers = RegistryWriters(SchemaCache(settings_for_url(url)), known_types)

    def fetch(needs: Sequence[Need]) -> None:
        refs = [need.ref for need in needs if need.ref is not None]
        subjects = [need.subject for need in needs if need.subject is not None]
        try:
            loop.run_until_complete(writers.cache.fetch(refs, subjects))
        except RegistryUnavailable as error:
            raise SentinelError(f"--registry: {error}") from None

    try:
        yield writers, fetch
    finally:
        loop.run_until_complete(writers.cache.close())
        loop.close()
