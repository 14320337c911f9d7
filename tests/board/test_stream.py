"""`/api/v1/stream` on the real server: a finding reaches it once its batch is kept (never
before, never from a batch that was not), a rollout that changes without a finding comes as
its summary, an idle stream is kept open, and a reader too slow to keep up is let go."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import orjson
import pytest
from engine.helpers import MIN, T0, event

from sentinel.core.errors import StoreError
from sentinel.core.ports.store import Batch, StateStore
from sentinel.store.memory import MemoryStore
from sentinel.web import api, feed

from .conftest import NAME, StartSentinel
from .server import Sentinel

WAIT_S = 5.0


class Failing:
    """A store whose transactions fail while `failing` is set, as a full disk does."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.failing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    @contextmanager
    def transaction(self) -> Iterator[Batch]:
        with self.store.transaction() as batch:
            yield batch
            if self.failing:
                raise StoreError("no space left on the volume")


async def next_event(stream: aiohttp.ClientResponse) -> tuple[str, Any]:
    """(event name, data) of the next message; comments are skipped."""
    name, data = "message", b""
    async with asyncio.timeout(WAIT_S):
        async for line in stream.content:
            if line.startswith(b"event: "):
                name = line[7:].strip().decode()
            elif line.startswith(b"data: "):
                data = line[6:].strip()
            elif line in (b"\n", b"\r\n") and data:
                return name, orjson.loads(data)
    raise AssertionError("the stream ended")


async def next_finding(stream: aiohttp.ClientResponse) -> dict[str, Any]:
    while True:
        name, data = await next_event(stream)
        if name == "finding":
            return data  # type: ignore[no-any-return]


async def test_a_finding_reaches_the_stream_once_kept_and_not_from_a_batch_that_was_not(
    start_sentinel: StartSentinel,
) -> None:
    store = Failing(MemoryStore())
    sentinel = await start_sentinel(store=store)
    sentinel.events(
        [event("SchemaV2_Ready", T0, "lost"), event("SchemaV2_Ready", T0 + MIN, "kept")], T0 + MIN
    )
    async with (
        aiohttp.ClientSession() as session,
        session.get(sentinel.url + "/api/v1/stream") as stream,
    ):
        assert stream.headers["Content-Type"] == "text/event-stream"
        store.failing = True
        with pytest.raises(StoreError):
            sentinel.events([], T0 + 10 * MIN + 30)  # "lost" stalls, and the batch is not kept
        store.failing = False
        sentinel.events([], T0 + 11 * MIN + 30)  # "kept" stalls
        finding = await next_finding(stream)
        assert (finding["kind"], finding["rollout"]) == ("stall", "kept")
        assert finding["id"]
    assert [f.rollout for f in sentinel.feed.recent.newest()] == ["kept"]


async def test_a_step_seen_without_a_finding_comes_as_the_rollouts_summary(
    start_sentinel: StartSentinel,
) -> None:
    sentinel = await start_sentinel()
    sentinel.events([event("SchemaV2_Ready", T0, "r1")], T0)
    async with (
        aiohttp.ClientSession() as session,
        session.get(sentinel.url + "/api/v1/stream") as stream,
    ):
        sentinel.events([event("UserServiceV2_Running", T0 + MIN, "r1")], T0 + MIN)
        name, summary = await next_event(stream)
    assert name == "rollout"
    assert (summary["expectation"], summary["rollout"]) == (NAME, "r1")
    assert [step["state"] for step in summary["steps"]] == ["seen", "seen", "due"]


async def test_a_batch_that_changes_many_rollouts_asks_the_board_to_reread_the_list(
    start_sentinel: StartSentinel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "MAX_ROLLOUT_EVENTS", 2)
    sentinel = await start_sentinel()
    async with (
        aiohttp.ClientSession() as session,
        session.get(sentinel.url + "/api/v1/stream") as stream,
    ):
        sentinel.events([event("SchemaV2_Ready", T0, f"r{n}") for n in range(3)], T0)
        assert await next_event(stream) == ("resync", {})


async def test_an_idle_stream_gets_a_keepalive_comment(
    start_sentinel: StartSentinel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api, "KEEPALIVE_S", 0.05)
    sentinel = await start_sentinel()
    async with (
        aiohttp.ClientSession() as session,
        session.get(sentinel.url + "/api/v1/stream") as stream,
    ):
        lines = [await stream.content.readline() for _ in range(4)]
    assert lines.count(b": keepalive\n") == 2


async def test_a_reader_that_cannot_keep_up_is_let_go_and_the_rest_goes_on(
    start_sentinel: StartSentinel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "SUBSCRIBER_BACKLOG", 3)
    sentinel: Sentinel = await start_sentinel()
    async with (
        aiohttp.ClientSession() as session,
        session.get(sentinel.url + "/api/v1/stream") as stream,
    ):
        await stream.content.readline()  # connected: the first keepalive
        sentinel.events([event("SchemaV2_Ready", T0, f"r{n}") for n in range(5)], T0)
        async with asyncio.timeout(WAIT_S):
            rest = await stream.content.read()
    assert rest.count(b"event: rollout") <= 3  # what was queued before it overflowed
    assert sentinel.feed._subscribers == set()
