"""State-store cost (issue 5): batch throughput with SQLite against memory in the same run,
restore time for 100,000 open rollouts, and bytes on disk per open rollout."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from bench.replay_bench import ROOT, T0, _event, generate_log
from sentinel.config import WatchSettings
from sentinel.core.engine.engine import Engine
from sentinel.core.engine.limits import Limits
from sentinel.core.events.decoders import BusDecoder
from sentinel.core.events.envelope import Envelope, from_json
from sentinel.core.events.records import Partition, Record
from sentinel.core.events.schemas import SchemaRegistry
from sentinel.core.pipeline.pipeline import Pipeline, WallClock
from sentinel.core.ports.store import Batch, NullStore, StateStore
from sentinel.core.rules.loader import load_expectations
from sentinel.kafka.broker import EmbeddedBroker
from sentinel.store.changelog import ChangelogStore
from sentinel.store.memory import MemoryStore
from sentinel.store.sqlite import SqliteStore

PARTITIONS = 6
BATCH = WatchSettings().max_batch  # records per batch, as `sentinel run` reads them
OPEN_ROLLOUTS = 100_000


def main() -> dict[str, float]:
    loaded = load_expectations([ROOT])
    schemas = SchemaRegistry.load(ROOT / "schemas")

    def new_engine() -> Engine:
        # All OPEN_ROLLOUTS of one expectation stay open: beyond the default bound of 50,000
        # per expectation (`limits:`), which would refuse half of them.
        return Engine(
            loaded.expectations, schemas, limits=Limits(open_rollouts_per_expectation=OPEN_ROLLOUTS)
        )

    log = generate_log()  # 200,000 events of 20,000 rollouts
    with tempfile.TemporaryDirectory() as directory:
        rates: dict[str, float] = {}
        shares: dict[str, float] = {}
        # Alternating, best of three each: the machine is shared, and other work only slows.
        for attempt in range(3):
            for name, opener in (
                ("off", NullStore),
                ("memory", MemoryStore),
                ("sqlite", partial(SqliteStore, Path(directory) / f"state-{attempt}.db")),
            ):
                rate, share = throughput(log, new_engine(), opener)
                rates[name] = max(rates.get(name, 0.0), rate)
                shares[name] = min(shares.get(name, 1.0), share)
        print(
            f"store: {len(log):,} events in batches of {BATCH}: no store {rates['off']:,.0f}"
            f" events/s, memory {rates['memory']:,.0f}, sqlite {rates['sqlite']:,.0f}; time in"
            f" the store's calls: memory {shares['memory']:.0%}, sqlite {shares['sqlite']:.0%}"
            " of the batch time (what the store costs of throughput; the rates alone also"
            " carry the noise of a shared machine and the garbage collector's extra work when"
            " state is kept in Python objects)"
        )
        restore_s, size = _restore(new_engine, Path(directory) / "open.db")
        changelog_s = asyncio.run(_changelog_restore(new_engine, Path(directory)))
    per_rollout = size / OPEN_ROLLOUTS
    print(
        f"store: restore of {OPEN_ROLLOUTS:,} open rollouts (open, load, Engine.restore) in"
        f" {restore_s:.2f}s; file {size / 2**20:,.1f} MiB = {per_rollout:,.0f} bytes per open"
        " rollout (incl. its event id)"
    )
    print(
        f"store: restore of {OPEN_ROLLOUTS:,} open rollouts from the changelog by a new replica"
        f" (embedded broker; read, write the file, Engine.restore) in {changelog_s:.2f}s"
    )
    return {
        "store_off_events_per_s": rates["off"],
        "store_memory_events_per_s": rates["memory"],
        "store_sqlite_events_per_s": rates["sqlite"],
        "store_memory_share": shares["memory"],
        "store_sqlite_share": shares["sqlite"],
        "store_restore_s": restore_s,
        "store_bytes_per_open_rollout": per_rollout,
        "store_changelog_restore_s": changelog_s,
    }


class _Timed:
    """A store whose transactions are timed: their share of the batch time is its cost."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    @contextmanager
    def transaction(self) -> Iterator[Batch]:
        started = time.perf_counter()
        with self.store.transaction() as batch:
            yield batch
        self.seconds += time.perf_counter() - started

    def close(self) -> None:
        started = time.perf_counter()
        self.store.close()  # its last checkpoint is part of the cost
        self.seconds += time.perf_counter() - started


def throughput(
    log: list[bytes], engine: Engine, opener: Callable[[], StateStore]
) -> tuple[float, float]:
    """Events per second through the pipeline (decode, apply, keep each batch), and the
    store's share of the time."""
    store = _Timed(opener())
    pipeline = Pipeline(engine, store, BusDecoder())
    records = [
        Record(Partition("rollout.events", index % PARTITIONS), index // PARTITIONS, line)
        for index, line in enumerate(log)
    ]
    clock = float("-inf")
    gc.collect()
    started = time.perf_counter()
    for start in range(0, len(records), BATCH):
        batch = records[start : start + BATCH]
        for line in log[start : start + BATCH]:
            item = from_json(line)  # the wall clock of a live batch: the newest event in it
            if isinstance(item, Envelope) and item.time is not None:
                clock = max(clock, item.time)
        pipeline.process(batch, WallClock(clock))
    store.close()
    elapsed = time.perf_counter() - started
    return len(log) / elapsed, store.seconds / elapsed


PARTITION = Partition("rollout.events", 0)


def _opening() -> list[Record]:
    return [
        Record(
            PARTITION,
            i,
            _event(
                f"o-{i}",
                "SchemaV2_Ready",
                T0,
                {"rollout_id": f"open-{i}", "schema_version": "2", "migration_id": "m"},
            ),
        )
        for i in range(OPEN_ROLLOUTS)
    ]


def _open_all(pipeline: Pipeline) -> None:
    records = _opening()
    for start in range(0, len(records), BATCH):
        pipeline.process(records[start : start + BATCH], WallClock(T0))


def _restore(new_engine: Callable[[], Engine], path: Path) -> tuple[float, int]:
    """Seconds to bring 100,000 open rollouts back into a new engine; the file's size."""
    store = SqliteStore(path)
    _open_all(Pipeline(new_engine(), store, BusDecoder()))
    store.close()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    size = path.stat().st_size
    gc.collect()
    started = time.perf_counter()
    reopened = SqliteStore(path)
    fresh = Pipeline(new_engine(), reopened, BusDecoder())
    fresh.restore()
    elapsed = time.perf_counter() - started
    reopened.close()
    assert sum(len(by_key) for by_key in fresh.engine.rollouts.values()) == OPEN_ROLLOUTS
    return elapsed, size


async def _changelog_restore(new_engine: Callable[[], Engine], directory: Path) -> float:
    """Seconds for a replica that never held the partition to take over 100,000 rollouts."""
    async with EmbeddedBroker(log_path=directory / "broker.log") as broker:
        await broker.create_topics(["rollout.events"], partitions=1)
        client = {"bootstrap_servers": broker.bootstrap_servers}

        def replica(name: str) -> ChangelogStore:
            return ChangelogStore(SqliteStore(directory / name), "bench", client, 1)

        writer = replica("writer.db")
        await writer.start()
        await writer.ensure_topics({"rollout.events": 1})
        await writer.assign([PARTITION])
        pipeline = Pipeline(new_engine(), writer, BusDecoder())
        records = _opening()
        for start in range(0, len(records), BATCH):
            pipeline.process(records[start : start + BATCH], WallClock(T0))
            await writer.flush()
        await writer.stop()
        writer.close()
        del pipeline, records
        gc.collect()
        reader = replica("reader.db")
        await reader.start()
        started = time.perf_counter()
        await reader.assign([PARTITION])
        fresh = Pipeline(new_engine(), reader, BusDecoder())
        fresh.restore([PARTITION])
        elapsed = time.perf_counter() - started
        await reader.stop()
        reader.close()
    assert sum(len(by_key) for by_key in fresh.engine.rollouts.values()) == OPEN_ROLLOUTS
    return elapsed


if __name__ == "__main__":
    main()
