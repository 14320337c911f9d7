"""What a stream reader can make the sentinel hold (issue 22): a reader that falls behind holds
at most SUBSCRIBER_BYTES (or SUBSCRIBER_BACKLOG messages) and is then let go, whatever the size
of the messages; a peer's stream cannot make this replica hold an endless message."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from engine.helpers import T0, event

from sentinel.web import feed
from sentinel.web.feed import Subscriber
from sentinel.web.peers import Peers

from .conftest import StartSentinel

WAIT_S = 5.0


def test_a_reader_holds_at_most_its_bytes_and_is_then_let_go() -> None:
    subscriber = Subscriber()
    big = b"x" * 100_000  # 11 of them are more than a MiB, far fewer than 2,000 messages
    held = []
    for _ in range(50):
        subscriber.put(big)
        held.append(subscriber.waiting_bytes)
    assert max(held) <= feed.SUBSCRIBER_BYTES
    assert subscriber.overflowed
    assert subscriber.waiting_bytes == 0
    assert subscriber.queue.qsize() == 1  # only the end: what waited is dropped
    assert subscriber.queue.get_nowait() is None


async def test_what_a_reader_takes_is_no_longer_counted_against_it() -> None:
    subscriber = Subscriber()
    for _ in range(30):  # 3 MB in all, never more than 200 kB waiting
        subscriber.put(b"y" * 100_000)
        subscriber.put(b"y" * 100_000)
        assert await subscriber.get() is not None
        assert await subscriber.get() is not None
    assert not subscriber.overflowed
    assert subscriber.waiting_bytes == 0


async def test_a_stream_reader_that_falls_behind_in_bytes_is_let_go(
    start_sentinel: StartSentinel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "SUBSCRIBER_BYTES", 4_000)
    monkeypatch.setattr(feed, "MAX_ROLLOUT_EVENTS", 1_000)
    sentinel = await start_sentinel()
    async with (
        aiohttp.ClientSession() as session,
        session.get(sentinel.url + "/api/v1/stream") as stream,
    ):
        await stream.content.readline()  # connected: the first keepalive
        # Twenty summaries of ~700 bytes in one batch: far fewer than 2,000 messages.
        sentinel.events([event("SchemaV2_Ready", T0, f"r{n}") for n in range(20)], T0)
        async with asyncio.timeout(WAIT_S):
            rest = await stream.content.read()
    assert len(rest) <= 4_000
    assert sentinel.feed._subscribers == set()


async def test_a_peers_endless_message_is_dropped_and_the_next_one_forwarded() -> None:
    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for _ in range(40):  # 4 MB of one message, line after line
            await response.write(b"data: " + b"z" * 100_000 + b"\n")
        await response.write(b"\n")
        await response.write(b'event: finding\ndata: {"kind":"stall"}\n\n')
        await asyncio.sleep(WAIT_S)
        return response

    app = web.Application()
    app.router.add_get("/api/v1/stream", stream)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    address = f"127.0.0.1:{runner.addresses[0][1]}"
    peers = Peers([address], lambda: 0)
    await peers.start()
    delivered: list[bytes] = []
    arrived = asyncio.Event()

    def deliver(message: bytes) -> None:
        delivered.append(message)
        arrived.set()

    following = asyncio.create_task(peers.follow(address, deliver))
    try:
        async with asyncio.timeout(WAIT_S):
            await arrived.wait()
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await peers.stop()
        await runner.cleanup()
    assert delivered == [b'event: finding\ndata: {"kind":"stall"}\n\n']
