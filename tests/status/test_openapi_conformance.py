"""The OpenAPI document and the API functions agree: schemathesis generates requests from the
document (valid and invalid filters, unknown rollouts) against a stand-in server built on
`sentinel.status`, and checks every answer against the document."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings

from sentinel.status.assets import openapi_document

from .board_server import BoardServer
from .helpers import EXAMPLE_CLOCK, Example

schema = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def api_url(example: Example) -> Iterator[str]:
    """The stand-in server on a loop of its own thread (schemathesis calls synchronously)."""
    server = BoardServer(list(example.expectations), EXAMPLE_CLOCK)
    for rollout in example.rollouts:
        server.put(rollout)
    server.findings = example.findings()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(server.app())
    started = threading.Event()
    port: list[int] = []

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port.append(runner.addresses[0][1])
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    assert started.wait(10)
    yield f"http://127.0.0.1:{port[0]}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@schema.exclude(path="/api/v1/stream").parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_answer_matches_the_document(case: schemathesis.Case[Any], api_url: str) -> None:
    case.call_and_validate(base_url=api_url)
