"""One suite, every store: the `stores` fixture opens the store under test, and reopens it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.ports import EngineChanges
from sentinel.core.events.records import Partition
from sentinel.core.ports.store import Batch, StateStore
from sentinel.kafka.broker import EmbeddedBroker
from sentinel.store.changelog import ChangelogStore
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore


class Crash(Exception):
    """The process dies here, in the middle of a transaction."""


def commit(
    store: StateStore,
    changes: EngineChanges,
    findings: Sequence[Finding] = (),
    offsets: Mapping[Partition, int] | None = None,
) -> None:
    """One batch written as the pipeline writes it (findings taken as fresh)."""
    with store.transaction() as batch:
        batch.write(changes, findings, offsets or {})


class Dying:
    """A store whose next transaction dies before it commits, as a killed process does."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    @contextmanager
    def transaction(self) -> Iterator[Batch]:
        with self.store.transaction() as batch:
            yield batch
            raise Crash


class Stores:
    """The store under test, opened as a sentinel would open it, and as a restarted one would."""

    def __init__(self, kind: str, directory: Path) -> None:
        self.kind = kind
        self.path = directory / "state.db"
        self.current: StateStore | None = None

    def open(self) -> StateStore:
        """The store at its place: a new one, or the one that a previous `open` left."""
        if self.kind == "memory":
            # A memory store survives an engine rebuild in the same process, nothing more.
            if self.current is None:
                self.current = MemoryStore()
            return self.current
        self.crash()
        self.current = SqliteStore(self.path)
        return self.current

    def crash(self) -> None:
        """Let go of the open store as a killed process does: nothing more is committed."""
        if self.kind == "sqlite" and self.current is not None:
            self.current.close()
            self.current = None


@pytest.fixture(params=["memory", "sqlite"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    opened = Stores(request.param, tmp_path)
    yield opened
    if opened.current is not None:
        opened.current.close()


# `await replica("a", history_retention_s=...)`: a started changelog store on its own file.
Replica = Callable[..., Awaitable[ChangelogStore]]


@pytest.fixture
async def topic(topic_factory: Callable[..., Awaitable[str]]) -> str:
    """The input topic of the changelog tests: two partitions."""
    return await topic_factory(partitions=2)


@pytest.fixture
async def replica(broker: EmbeddedBroker, topic: str, tmp_path: Path) -> AsyncIterator[Replica]:
    """A started changelog store per name, on its own file (the same file for the same name)."""
    opened: list[ChangelogStore] = []

    async def open_replica(name: str, **local: Any) -> ChangelogStore:
        store = ChangelogStore(
            SqliteStore(tmp_path / f"{name}.db", **local),
            group_id=topic,
            client={"bootstrap_servers": broker.bootstrap_servers},
            replication_factor=1,
        )
        await store.start()
        await store.ensure_topics({topic: 2})
        opened.append(store)
        return store

    yield open_replica
    for store in opened:
        await store.stop()
        store.close()
