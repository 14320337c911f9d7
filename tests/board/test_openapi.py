"""The real server answers as its OpenAPI document says: schemathesis generates requests from
the document (valid and invalid filters, unknown rollouts) against the sentinel's own HTTP
server, holding the shipped example's rollouts (open and closed) and findings, with links to
traces (`tracing.trace_url`) and a rollout whose events carried trace context."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote
from urllib.request import urlopen

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from status.helpers import EXAMPLE_CLOCK, EXAMPLE_LOG, ROOT
from status.test_api import assert_valid

from sentinel.core.engine.tracing import TraceOptions
from sentinel.core.events.decoders import LineDecoder
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.pipeline.pipeline import EventClock
from sentinel.core.pipeline.replay import log_records
from sentinel.core.rules.loader import load_expectations
from sentinel.status.assets import openapi_document

from .server import Sentinel

schema = schemathesis.openapi.from_dict(openapi_document())
TRACING = TraceOptions(url="https://tempo.example/trace/{trace_id}?span={span_id}&step={step}")
# A rollout of the example's user-service-v2 whose producer sent its trace context.
TRACED_CONTEXT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACED = orjson.dumps(
    {
        "specversion": "1.0",
        "id": "e-traced",
        "source": "/deploy/r-traced",
        "type": "SchemaV2_Ready",
        "time": "2026-11-25T10:18:00Z",
        "traceparent": TRACED_CONTEXT,
        "data": {"rollout_id": "r-traced", "schema_version": "2.0", "migration_id": "m-2041"},
    }
)


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    """The server on a loop of its own thread (schemathesis calls synchronously)."""
    loaded = load_expectations([ROOT / "expectations"])
    registry = SchemaRegistry.load(ROOT / "expectations" / "schemas")
    sentinel = Sentinel(
        loaded.expectations, decoder=LineDecoder(), schemas=registry, tracing=TRACING
    )
    lines = [*EXAMPLE_LOG.read_bytes().splitlines(), TRACED]
    sentinel.process(list(log_records(lines)), EventClock(lambda: EXAMPLE_CLOCK))
    sentinel.process([], _Until(EXAMPLE_CLOCK))
    assert list(sentinel.store.history()), "the example closes rollouts: the history has them"
    traced = sentinel.engine.view("user-service-v2", "r-traced")
    assert traced is not None and traced.steps[0].traceparent is not None
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


def test_every_rollout_in_full_and_every_list_matches_the_document(api_url: str) -> None:
    """What the generated requests seldom reach: each rollout the server holds, by its real
    key (open and closed, the traced one among them), with its trace id and links."""
    listed = _get(api_url, "/api/v1/rollouts?phase=all&limit=1000")
    assert_valid("RolloutList", listed)
    assert all("trace_url" in row for row in listed["rollouts"])
    for row in listed["rollouts"]:
        path = f"/api/v1/rollouts/{quote(row['expectation'], safe='')}/"
        rollout = _get(api_url, path + quote(row["rollout"], safe=""))
        assert_valid("FullRollout", rollout)
        assert rollout["trace_url"] == row["trace_url"]
    traced = _get(api_url, "/api/v1/rollouts/user-service-v2/r-traced")
    assert traced["steps"][0]["traceparent"] == TRACED_CONTEXT
    assert_valid("FindingList", _get(api_url, "/api/v1/findings"))


def _get(base: str, path: str) -> Any:
    with urlopen(base + path, timeout=10) as answer:
        return orjson.loads(answer.read())
