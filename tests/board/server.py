"""The sentinel's real HTTP server (the board, the rollout API, the probes) on a real port, on a
real engine, store and pipeline as `sentinel run` wires them, fed by the test instead of Kafka:
`process` hands records to the pipeline exactly as the watcher does, `replay` an event log as
`sentinel replay` reads it (on event time), and `advance` moves the wall clock with nothing
read, as the watcher's fetch on a quiet bus does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import aiohttp
from pipeline.helpers import record
from prometheus_client import CollectorRegistry

from sentinel.config import BasicAuth, HttpSettings
from sentinel.core.engine.actions import Action, Outcome, Requested
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.findings import Finding
from sentinel.core.engine.ports import SchemaCheck
from sentinel.core.engine.tracing import DEFAULT_TRACING, TraceOptions
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.envelope import Envelope
from sentinel.core.events.records import Partition, Record
from sentinel.core.pipeline.pipeline import Clock, Decoder, EventClock, Pipeline, WallClock
from sentinel.core.pipeline.replay import log_records
from sentinel.core.ports.store import StateStore
from sentinel.core.rules.expectations import Expectation
from sentinel.store.memory import MemoryStore
from sentinel.web.api import mount
from sentinel.web.cluster import Cluster
from sentinel.web.feed import LiveFeed
from sentinel.web.http import HttpServer
from sentinel.web.local import Replica
from sentinel.web.peers import Peers

P0 = Partition("rollout.events", 0)


class Lenient:
    """Schemas for every type: an event is valid unless its data says `broken`."""

    def check(self, event_type: str, data: object) -> list[str] | None:
        broken = isinstance(data, dict) and data.get("broken")
        return ["broken: the producer broke it"] if broken else []


class Sentinel:
    """One replica's HTTP face over its own engine and store."""

    def __init__(
        self,
        expectations: Sequence[Expectation],
        *,
        store: StateStore | None = None,
        decoder: Decoder | None = None,
        basic_auth: BasicAuth | None = None,
        peers: Sequence[str] = (),
        port: int = 0,
        retention_s: float = 24 * 3600.0,
        wall_clock: float = 0.0,
        schemas: SchemaCheck | None = None,
        tracing: TraceOptions = DEFAULT_TRACING,
        operators: Sequence[str] = (),
        action_secret: str | None = None,
    ) -> None:
        checks = schemas if schemas is not None else Lenient()
        self.engine = Engine(expectations, checks, retention_s=retention_s, tracing=tracing)
        self.store = store if store is not None else MemoryStore()
        self.feed = LiveFeed(self.engine)
        self.pipeline = Pipeline(
            self.engine, self.store, decoder or BusDecoder(), observer=self.feed
        )
        self.http = HttpServer("127.0.0.1", port, CollectorRegistry())
        self.http.health = self.http.ready = lambda: (True, {})
        self.peers = Peers(peers, lambda: self.http.port, 1.0, basic_auth)
        self.wall_clock = wall_clock  # what the replica's clock reads before any event
        replica = Replica(self.engine, self.store, self.feed, lambda: self.wall_clock)
        # An action is taken in a batch of its own, as the watcher's woken loop takes it.
        replica.actor = self.act
        self.settings = HttpSettings(
            basic_auth=basic_auth, operators=tuple(operators), action_secret=action_secret
        )
        mount(self.http.app, Cluster(replica, self.peers), self.feed, basic_auth, self.settings)
        self._offset = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.http.port}"

    async def start(self) -> Sentinel:
        self.pipeline.restore()
        await self.http.start()
        return self

    async def stop(self) -> None:
        await self.http.stop()

    def events(self, events: Sequence[Envelope], now: float) -> list[Finding]:
        """One batch of events read at `now` (the wall clock), as the watcher hands it over;
        an event's `hop` rides as the record's `traceparent` header, as OpenTelemetry's Kafka
        instrumentations write it."""
        self.wall_clock = max(self.wall_clock, now)
        records = []
        for item in events:
            made = record(item, self._offset, P0, read_at=now)
            if item.hop is not None:
                headers = [("traceparent", item.hop.encode())]
                made = Record(P0, self._offset, made.value, headers, timestamp=now)
            records.append(made)
            self._offset += 1
        return self.process(records, WallClock(now))

    def replay(self, lines: Iterable[bytes], until: float | None = None) -> list[Finding]:
        """A JSON-lines event log as `sentinel replay` reads a file: one batch on event time
        (the clock is the latest event time read), then, with `until`, the clock moved there.
        The lines must be decodable: a sentinel made with `decoder=LineDecoder()`."""
        findings = self.process(list(log_records(lines)), EventClock(lambda: self.wall_clock))
        if until is not None:
            findings += self.advance(until)
        return findings

    def advance(self, now: float) -> list[Finding]:
        """The wall clock at `now` and nothing read, as the watcher's fetch on a quiet bus:
        every deadline up to `now` fires, and what it raises reaches the streams."""
        self.wall_clock = max(self.wall_clock, now)
        return self.process([], WallClock(now))

    def process(self, records: Sequence[Record], clock: Clock) -> list[Finding]:
        return self.pipeline.process(records, clock).findings

    async def act(self, expectation: str, key: str, action: Action) -> Outcome:
        """An on-call action in a batch of its own at the wall clock (Replica.actor)."""
        asked = Requested(expectation, key, action)
        kept = self.pipeline.process([], WallClock(self.wall_clock), actions=[asked])
        return kept.acted[0]


async def get(
    url: str, path: str, *, headers: dict[str, str] | None = None, **params: str
) -> tuple[int, Any, Any]:
    """(status, JSON body or text, headers) of one GET."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(url + path, params=params, headers=headers) as answer,
    ):
        text = await answer.text()
        body: Any = text
        if answer.content_type == "application/json":
            body = await answer.json()
        return answer.status, body, answer.headers
