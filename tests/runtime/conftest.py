"""Fixtures of the runtime tests: Kafka sources on the session broker (stopped after each test),
and fake watchers on the fast expectation for the loop tests."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from sentinel.core.events.records import Partition, Record
from sentinel.kafka.broker import EmbeddedBroker
from sentinel.kafka.settings import KafkaSettings
from sentinel.kafka.source import KafkaSource

from .fake_source import opened_watchers
from .watcher_support import FAST_EXPECTATION

# Tansu holds a new member's JoinGroup for about half the session timeout (at least 1 s):
# 2 s keeps every join near one second instead of five.
FAST_SESSION_TIMEOUT = 2.0

_group_numbers = itertools.count()


class RecordingListener:
    """Keeps every rebalance callback, in order, as ("revoked" | "assigned", partitions)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, frozenset[Partition]]] = []

    async def on_revoked(self, partitions: frozenset[Partition]) -> None:
        self.calls.append(("revoked", partitions))

    async def on_assigned(self, partitions: frozenset[Partition]) -> None:
        self.calls.append(("assigned", partitions))

    @property
    def holding(self) -> frozenset[Partition] | None:
        """The partitions of the last assignment, None while revoked or never assigned."""
        if not self.calls or self.calls[-1][0] != "assigned":
            return None
        return self.calls[-1][1]

    async def wait_holding(self, partitions: frozenset[Partition], timeout_s: float = 15) -> None:
        deadline = time.monotonic() + timeout_s
        while self.holding != partitions:
            assert time.monotonic() < deadline, f"still {self.calls} after {timeout_s}s"
            await asyncio.sleep(0.05)


def settings_for(broker: EmbeddedBroker, topics: list[str], **overrides: Any) -> KafkaSettings:
    values: dict[str, Any] = {
        "topics": tuple(topics),
        "bootstrap_servers": (broker.bootstrap_servers,),
        "group_id": f"test-group-{next(_group_numbers)}",
        "auto_offset_reset": "earliest",
        "session_timeout": FAST_SESSION_TIMEOUT,
        **overrides,
    }
    return KafkaSettings(**values)


StartSource = Callable[..., Awaitable[KafkaSource]]


@pytest.fixture
def kafka_settings(broker: EmbeddedBroker) -> Callable[..., KafkaSettings]:
    """`kafka_settings([topic], **overrides)`: the session broker, a new group, from the start."""
    return partial(settings_for, broker)


@pytest.fixture
async def start_source(broker: EmbeddedBroker) -> AsyncIterator[StartSource]:
    """`await start_source([topic], listener=..., group_id=...)`: a started source."""
    sources: list[KafkaSource] = []

    async def start(
        topics: list[str], listener: RecordingListener | None = None, **overrides: Any
    ) -> KafkaSource:
        source = KafkaSource(settings_for(broker, topics, **overrides))
        sources.append(source)
        await source.start(listener or RecordingListener())
        return source

    yield start
    for source in reversed(sources):
        await source.stop()


async def _fetch_at_least(source: KafkaSource, count: int, timeout_s: float = 10) -> list[Record]:
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count:
        assert time.monotonic() < deadline, f"only {len(records)} of {count} records arrived"
        records += await source.fetch(max_records=count - len(records), timeout_s=0.5)
    return records


@pytest.fixture
def fetch_at_least() -> Callable[..., Awaitable[list[Record]]]:
    """`await fetch_at_least(source, count)`: fetch until that many came (batches may split)."""
    return _fetch_at_least


@pytest.fixture
def make_listener() -> type[RecordingListener]:
    """`make_listener()`: a listener that records every rebalance callback."""
    return RecordingListener


Start = Callable[..., Any]


@pytest.fixture
def expectations(tmp_path: Path) -> Path:
    folder = tmp_path / "expectations"
    folder.mkdir()
    (folder / "fast.yaml").write_text(FAST_EXPECTATION)  # windows of 2s
    return folder


@pytest.fixture
async def start(expectations: Path) -> AsyncIterator[Start]:
    """`await start(source, clock, **loop settings)`: a fake watcher (fake_source.py) on the
    fast expectation, opened, and its findings; closed at the end of the test."""
    async with opened_watchers(expectations) as open_watcher:
        yield open_watcher
