"""What the board and the rollout API show as it happens, fed from one place: the pipeline's
kept batch. Its findings go to the buffer of recent findings and to every open
`/api/v1/stream`; the rollouts it changed go to the streams as summaries (`event: rollout`),
so a board follows a step that is seen without a finding. Nothing reaches a stream before it
is kept."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence

import orjson

from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.status.api_json import stream_message, summary
from sentinel.status.recent import RecentFindings
from sentinel.status.trace_links import links_of

# Enough for a busy hour on the board; older findings are in the alerts and the logs.
RECENT_CAPACITY = 1000
# More changed rollouts than this in one batch: the streams are told to re-read the list.
MAX_ROLLOUT_EVENTS = 100
# What may wait for one slow reader before its stream is closed (the browser reconnects and
# reads the list again): this many messages, or this many bytes, whichever comes first. A
# message is shared by every reader; the bound is on what one reader holds back.
SUBSCRIBER_BACKLOG = 2000
SUBSCRIBER_BYTES = 1 << 20
RESYNC_MESSAGE = b"event: resync\ndata: {}\n\n"

log = logging.getLogger("sentinel.api")


class Subscriber:
    """One open stream: the messages waiting for it; None ends it. One that falls behind by
    more than SUBSCRIBER_BACKLOG messages or SUBSCRIBER_BYTES is let go at once: what waited
    is dropped, and the stream ends."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.waiting_bytes = 0
        self.overflowed = False

    def put(self, message: bytes | None) -> None:
        if self.overflowed:
            return
        if message is None:
            self.queue.put_nowait(None)
            return
        size = len(message)
        if self.queue.qsize() >= SUBSCRIBER_BACKLOG or self.waiting_bytes + size > SUBSCRIBER_BYTES:
            self._let_go()
            return
        self.waiting_bytes += size
        self.queue.put_nowait(message)

    async def get(self) -> bytes | None:
        """The next message, None at the end."""
        message = await self.queue.get()
        if message is not None:
            self.waiting_bytes -= len(message)
        return message

    def _let_go(self) -> None:
        self.overflowed = True
        dropped = self.queue.qsize()
        while not self.queue.empty():
            self.queue.get_nowait()
        self.waiting_bytes = 0
        self.queue.put_nowait(None)
        log.warning("stream reader too slow: let go", extra={"dropped": dropped})


class LiveFeed:
    """A PipelineObserver (sentinel.core.pipeline.pipeline) for the status board and the
    rollout API."""

    def __init__(self, engine: Engine, capacity: int = RECENT_CAPACITY) -> None:
        self.recent = RecentFindings(capacity)
        self._engine = engine
        self._subscribers: set[Subscriber] = set()

    def batch_kept(
        self,
        records: int,
        findings: Sequence[Finding],
        skews: Sequence[float],
        changed: Collection[tuple[str, str]],
    ) -> None:
        self.recent.extend(list(findings))
        if not self._subscribers or not (findings or changed):
            return
        messages = [stream_message(finding) for finding in findings]
        messages += self._rollout_messages(changed)
        for subscriber in list(self._subscribers):
            for message in messages:
                subscriber.put(message)

    def subscribe(self) -> Subscriber:
        subscriber = Subscriber()
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        for subscriber in self._subscribers:
            subscriber.put(None)

    def _rollout_messages(self, changed: Collection[tuple[str, str]]) -> list[bytes]:
        if len(changed) > MAX_ROLLOUT_EVENTS:
            return [RESYNC_MESSAGE]
        messages = []
        links = links_of(self._engine.tracing.url, self._engine.clock)
        for expectation, key in changed:
            view = self._engine.view(expectation, key)
            if view is not None:
                data = orjson.dumps(summary(view, links))
                messages.append(b"event: rollout\ndata: " + data + b"\n\n")
        return messages
