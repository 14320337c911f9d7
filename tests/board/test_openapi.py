"""The real server answers as its OpenAPI document says: schemathesis generates requests from
the document (valid and invalid filters, unknown rollouts) against the sentinel's own HTTP
server, holding the shipped example's rollouts (open and closed) and findings."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from status.helpers import EXAMPLE_CLOCK, EXAMPLE_LOG, ROOT

from sentinel.core.events.decoders import LineDecoder
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.pipeline.pipeline import EventClock
from sentinel.core.pipeline.replay import log_records
from sentinel.core.rules.loader import load_expectations
from sentinel.status.assets import openapi_document

from .server import Sentinel

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    """The server on a loop of its own thread (schemathesis calls synchronously)."""
    loaded = load_expectations([ROOT / "expectations"])
    registry = SchemaRegistry.load(ROOT / "expectations" / "schemas")
    sentinel = Sentinel(loaded.expectations, decoder=LineDecoder(), schemas=registry)
    sentinel.process(
        list(log_records(EXAMPLE_LOG.read_bytes().splitlines())), EventClock(lambda: EXAMPLE_CLOCK)
    )
    sentinel.process([], _Until(EXAMPLE_CLOCK))
    assert list(sentinel.store.history()), "the example closes rollouts: the history has them"
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(sentinel.start(), loop).result(10)
    yield sentinel.url
    asyncio.run_coroutine_threadsafe(sentinel.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


class _Until:
    """The clock moved to the end of the example, as `replay --until` moves it."""

    def __init__(self, end: float) -> None:
        self.now = end

    def at(self, record: Any, item: Any) -> float:
        return self.now


@schema.exclude(path="/api/v1/stream").parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_answer_matches_the_document(case: schemathesis.Case[Any], api_url: str) -> None:
    case.call_and_validate(base_url=api_url)
