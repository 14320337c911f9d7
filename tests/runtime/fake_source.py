"""A source in memory for driving the watcher's loop without a broker: partitions of records,
a position and a committed offset per partition, and rebalances when the test says so."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from sentinel.config import WatchSettings
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.watermarks import Answer, Watermarks
from sentinel.core.errors import BusUnreachable
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.records import Partition, Record
from sentinel.core.pipeline.pipeline import Pipeline
from sentinel.core.ports.store import StateStore
from sentinel.registry.cache import SchemaCache
from sentinel.registry.lookup import RegistryWriters
from sentinel.registry.settings import RegistrySettings
from sentinel.runtime.finding_lines import FindingLines
from sentinel.runtime.metrics import Metrics
from sentinel.runtime.metrics_observer import MetricsObserver
from sentinel.runtime.registry_gate import NoGate, RegistryGate
from sentinel.runtime.rule_reload import RuleSet, load_rules
from sentinel.runtime.watcher import (
    HeldDeliveries,
    NoDeliveries,
    PartitionListener,
    Watcher,
    WatcherParts,
)
from sentinel.store.memory import MemoryStore

from .watcher_support import SHIPPED_SCHEMAS, Findings


class FakeSource:
    """What `sentinel.runtime.watcher.Source` promises, in memory; every call returns at once.

    The broker answers every fetch at once, at the time of `clock` (the watcher's, given by
    `fake_watcher`); `frozen` makes it answer nothing, as a stopped broker process would, and
    `unreachable` makes `start` fail as with no broker at the address.
    """

    def __init__(self, partitions: Iterable[Partition]) -> None:
        self.logs: dict[Partition, list[Record]] = {p: [] for p in partitions}
        self.positions: dict[Partition, int] = {}
        self.committed: dict[Partition, int] = {}
        self.commits = 0
        self.listener: PartitionListener | None = None
        self._assigned: frozenset[Partition] = frozenset()
        self.last_fetch_ok: float | None = None
        # Records that `fetch` gives before reading the logs: a batch fetched before a
        # rebalance, say.
        self.pending: list[Record] = []
        self.paused: set[Partition] = set()
        self.clock: Callable[[], float] | None = None
        self.answered_at: float | None = None
        self.last_error: str | None = None
        self.frozen = False
        self.unreachable = False
        self.topics: tuple[str, ...] = ("rollout.events",)
        self.unreachable_after = 10.0
        # Per partition, the end offset in the broker's last answer and when it was given.
        self._answered: dict[Partition, tuple[int, float]] = {}

    def append(
        self,
        partition: Partition,
        value: bytes,
        timestamp: float | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> Record:
        """Produce: the record at the next offset of `partition`."""
        log = self.logs[partition]
        record = Record(partition, len(log), value, tuple(headers), timestamp=timestamp)
        log.append(record)
        return record

    async def start(self, listener: PartitionListener) -> None:
        if self.unreachable:
            raise BusUnreachable("cannot reach Kafka at fake:9: connection refused")
        self.listener = listener
        await self.assign(self.logs)

    async def assign(self, partitions: Iterable[Partition]) -> None:
        """A rebalance: whatever is held is revoked, then `partitions` are assigned."""
        assert self.listener is not None
        if self._assigned:
            await self.revoke()
        self._assigned = frozenset(partitions)
        for partition in self._assigned:
            self.positions[partition] = self.committed.get(partition, 0)
        await self.listener.on_assigned(self._assigned)

    async def revoke(self) -> None:
        assert self.listener is not None
        if self._assigned:
            await self.listener.on_revoked(self._assigned)  # still held: it commits them
        self._assigned = frozenset()

    async def stop(self) -> None:
        if self.listener is not None:
            await self.revoke()

    async def fetch(self, max_records: int, timeout_s: float) -> list[Record]:
        records, self.pending = self.pending[:max_records], self.pending[max_records:]
        if self.frozen:
            return records
        now = self.clock() if self.clock is not None else 0.0
        self.answered_at = now
        for partition in sorted(self._assigned - self.paused):
            log = self.logs[partition]
            self._answered[partition] = (len(log), now)
            start = self.positions[partition]
            taken = log[start : start + max_records - len(records)]
            records += taken
            self.positions[partition] = start + len(taken)
        return records

    async def commit(self, offsets: Mapping[Partition, int]) -> bool:
        self.commits += 1
        owned = {p: o for p, o in offsets.items() if p in self._assigned}
        self.committed.update(owned)
        return len(owned) == len(offsets)

    async def seek(self, partition: Partition, offset: int) -> None:
        self.positions[partition] = offset

    def pause(self, partitions: Iterable[Partition]) -> None:
        self.paused.update(partitions)

    def resume(self, partitions: Iterable[Partition]) -> None:
        self.paused.difference_update(partitions)

    async def answers(self) -> dict[Partition, Answer]:
        answers = {}
        for partition in self._assigned:
            end, at = self._answered.get(partition, (None, None))
            answers[partition] = Answer(end, self.positions[partition], at)
        return answers

    def assigned(self) -> frozenset[Partition]:
        return self._assigned


class NoHttp:
    """The watcher without an HTTP server: the probes are called directly."""

    port = 0

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class Clock:
    """The wall clock, moved by the test."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def fake_watcher(
    expectations: Path,
    schemas: Path,
    source: FakeSource,
    clock: Clock,
    store: StateStore | None = None,
    registry: RegistrySettings | None = None,
    deliveries: HeldDeliveries | None = None,
    **settings: Any,
) -> tuple[Watcher, Findings]:
    """The watcher as wiring builds it, but on `source`, `clock` and (by default) memory."""
    rules = load_rules(expectations, schemas)
    metrics = Metrics(CollectorRegistry())
    observer = MetricsObserver(metrics, rules.known_types, clock)
    engine = Engine(rules.expectations, rules.schemas, observer)
    decoder = BusDecoder(registry=registry is not None)
    pipeline = Pipeline(engine, store or MemoryStore(), decoder, None, observer)
    gate: RegistryGate | NoGate = NoGate()
    if registry is not None:
        pipeline.writers = RegistryWriters(SchemaCache(registry), rules.known_types)
        gate = RegistryGate(pipeline.writers, metrics)
    findings = Findings()
    source.clock = clock
    source.unreachable_after = settings.pop("unreachable_after", source.unreachable_after)
    pipeline.watermarks = Watermarks(shared=True)
    pipeline.output = FindingLines(findings)
    watcher = Watcher(
        WatcherParts(
            settings=WatchSettings(**settings),
            pipeline=pipeline,
            source=source,
            rules=RuleSet(rules, lambda: rules, (expectations, schemas), 3600.0),
            metrics=metrics,
            observer=observer,
            http=NoHttp(),
            registry=gate,
            deliveries=deliveries or NoDeliveries(),
            wall_clock=clock,
        )
    )
    return watcher, findings


OpenWatcher = Callable[..., Awaitable[tuple[Watcher, Findings]]]


@asynccontextmanager
async def opened_watchers(expectations: Path, **defaults: Any) -> AsyncIterator[OpenWatcher]:
    """`await open_watcher(source, clock, **fake_watcher options)` inside the block: a fake
    watcher on the shipped schemas (with `defaults`), opened; every one is closed at its end."""
    opened: list[Watcher] = []

    async def open_watcher(
        source: FakeSource, clock: Clock, **options: Any
    ) -> tuple[Watcher, Findings]:
        watcher, findings = fake_watcher(
            expectations, SHIPPED_SCHEMAS, source, clock, **{**defaults, **options}
        )
        await watcher.open()
        opened.append(watcher)
        return watcher, findings

    try:
        yield open_watcher
    finally:
        for watcher in opened:
            await watcher.close()


def kinds_of(findings: Findings) -> list[str]:
    return [item["kind"] for item in findings.items]


def values(records: Sequence[Record]) -> list[bytes | None]:
    return [record.value for record in records]
