"""The changelog mode, for several replicas: a partition's rollouts follow the partition from
replica to replica through a compacted Kafka topic; each replica's SQLite file is its snapshot.

Per input topic `T` the changelog is `<group_id>-T-changelog`, with T's partition count:
changelog partition `p` holds the rollouts opened by input partition `p`, so they move with
it. Its records, keyed so that compaction keeps one per key:

    r["<expectation>", "<key>"]   the rollout ([phase, closed_at] newline body), or a tombstone
    u<event type>                 a type reported as unregistered (once per group, not per replica)
    o                             {next_offset, clock, writer}: the input offset the records
                                  before it account for, and which store wrote them

A batch is committed locally first (one SQLite transaction, as in single mode), its records
are queued, and `flush()` sends them and waits for the broker: the watcher awaits it before it
commits offsets to Kafka. On assignment a partition is restored from the changelog: only its
tail when this replica's file holds the partition as of a known changelog offset, the whole
(compacted) partition otherwise. Event ids and emitted finding ids stay local: a record read
again after a move is skipped by its offset, and its rollout already holds its effects.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as KafkaPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError

from sentinel.engine import EngineChanges, RolloutState
from sentinel.errors import StoreError
from sentinel.findings import Finding
from sentinel.kafka.topics import create_topics
from sentinel.store.base import StoredState, TopicPartition
from sentinel.store.batches import feed_name
from sentinel.store.codec import dump_body
from sentinel.store.sqlite import SqliteStore, StoredRollout

_ROLLOUT, _TYPE, _POSITION = b"r", b"u", b"o"
# Compaction works on closed segments only: small segments keep a restore short.
CHANGELOG_CONFIG = {"cleanup.policy": "compact", "segment.ms": str(3600 * 1000)}
READ_TIMEOUT_S = 30.0

_LOCAL_SCHEMA = (
    # Which store wrote a changelog record: ours, or another replica's.
    "CREATE TABLE IF NOT EXISTS changelog_writer (id TEXT NOT NULL)",
    # The local copy of a partition equals its changelog up to `changelog_next`, unless
    # `dirty` (a local commit not yet acknowledged by the broker).
    """CREATE TABLE IF NOT EXISTS changelog_positions (
        topic TEXT NOT NULL,
        partition INTEGER NOT NULL,
        changelog_next INTEGER NOT NULL,
        dirty INTEGER NOT NULL,
        PRIMARY KEY (topic, partition)
    ) WITHOUT ROWID""",
)


def changelog_topic(group_id: str, topic: str) -> str:
    """The changelog of an input topic, named like Kafka Streams' `<app>-<store>-changelog`."""
    return f"{group_id}-{topic}-changelog"


@dataclass
class _Folded:
    """A changelog partition read from some offset: the last word on each key."""

    # In their byte form: checked when loaded into an engine, not once more here.
    rollouts: dict[tuple[str, str], StoredRollout | None] = field(default_factory=dict)
    types: set[str] = field(default_factory=set)
    next_offset: int | None = None
    clock: float = float("-inf")
    writers: set[str] = field(default_factory=set)
    end: int = 0  # the changelog offset after the last record read


class ChangelogStore:
    """A SqliteStore whose partitions are also kept in changelog topics (`state.mode: changelog`).

    Implements StateStore (synchronous, local); the Kafka side is async: `start()`, `flush()`
    after each commit, `assign()` and `revoke()` from the rebalance listener, `stop()`.
    `load()` and `offsets()` give only the partitions assigned to this replica.
    """

    def __init__(
        self,
        local: SqliteStore,
        group_id: str,
        client: Mapping[str, Any],
        replication_factor: int = -1,  # the broker's default
    ) -> None:
        self._local = local
        self._replication = replication_factor
        self._group_id = group_id
        self._client = dict(client)  # bootstrap_servers and the security settings
        self._producer: AIOKafkaProducer | None = None
        self._assigned: set[TopicPartition] = set()
        self._pending: list[tuple[TopicPartition, bytes, bytes | None]] = []
        # The changelog offsets read by the last restore of each partition: (from, to).
        self.restores: dict[TopicPartition, tuple[int, int]] = {}
        conn = local.connection
        for statement in _LOCAL_SCHEMA:
            conn.execute(statement)
        row = conn.execute("SELECT id FROM changelog_writer").fetchone()
        if row is None:
            row = (uuid.uuid4().hex,)
            conn.execute("INSERT INTO changelog_writer VALUES (?)", row)
        self.writer: str = row[0]

    # ---- Kafka ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(**self._client, acks="all")
        try:
            await self._producer.start()
        except KafkaError as error:
            raise StoreError(f"cannot reach Kafka for the state changelog: {error}") from None

    async def stop(self) -> None:
        """Send what is queued, then let go of Kafka (the local file stays open: `close()`)."""
        if self._producer is not None:
            try:
                await self.flush()
            finally:
                await self._producer.stop()
                self._producer = None

    async def ensure_topics(self, partitions: Mapping[str, int]) -> None:
        """Create the changelog of each input topic (name -> partition count) if it is missing."""
        problems = await create_topics(
            self._client,
            [
                NewTopic(
                    changelog_topic(self._group_id, topic),
                    count,
                    self._replication,
                    topic_configs=CHANGELOG_CONFIG,
                )
                for topic, count in partitions.items()
            ],
        )
        if problems:
            raise StoreError(f"cannot create the state changelog {problems[0]}")

    async def flush(self) -> None:
        """Send every queued record and wait until the broker has them all."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        producer = self._running()
        try:
            sent = [
                (tp, await producer.send(self._topic(tp), value, key=key, partition=tp[1]))
                for tp, key, value in pending
            ]
            results = await asyncio.gather(*(future for _, future in sent))
        except KafkaError as error:
            self._pending = pending + self._pending  # sent again by the next flush
            raise StoreError(f"cannot write the state changelog: {error}") from None
        ends: dict[TopicPartition, int] = {}
        for (tp, _), metadata in zip(sent, results, strict=True):
            ends[tp] = max(ends.get(tp, 0), metadata.offset + 1)
        still_pending = {tp for tp, _, _ in self._pending}
        conn = self._local.connection
        self._local.begin()
        conn.executemany(
            "INSERT OR REPLACE INTO changelog_positions VALUES (?, ?, ?, ?)",
            [(tp[0], tp[1], end, int(tp in still_pending)) for tp, end in ends.items()],
        )
        conn.execute("COMMIT")

    async def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Bring the rollouts of newly assigned partitions into the local file."""
        for tp in sorted(set(partitions) - self._assigned):
            self._assigned.add(tp)
            await self._restore(tp)
        await self.flush()

    async def revoke(self, partitions: Iterable[TopicPartition]) -> None:
        """Before partitions leave: their changes are sent; their rows stay as a snapshot."""
        await self.flush()
        self._assigned.difference_update(partitions)

    # ---- StateStore -----------------------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        return self._local.connection

    def load(self) -> StoredState:
        state = self._local.load()
        feeds = {feed_name(tp) for tp in self._assigned}
        return StoredState(
            rollouts=[r for r in state.rollouts if r.feeds and r.feeds[0] in feeds],
            seen_events=state.seen_events,
            unregistered_types=state.unregistered_types,
            clock=state.clock,
            offsets={tp: off for tp, off in state.offsets.items() if tp in self._assigned},
        )

    def offsets(self) -> dict[TopicPartition, int]:
        return {tp: off for tp, off in self._local.offsets().items() if tp in self._assigned}

    def begin(self) -> None:
        self._local.begin()

    def new_findings(self, findings: Sequence[Finding]) -> list[Finding]:
        return self._local.new_findings(findings)

    def commit(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[TopicPartition, int],
    ) -> None:
        local = self._local
        # Where the tombstones go: read before the commit deletes the rows.
        gone = local.feeds_of(i for i, rollout in changes.rollouts.items() if rollout is None)
        gone.update(local.closed_before(changes.horizon))
        records: list[tuple[TopicPartition, bytes, bytes | None]] = []
        touched = set(offsets)
        for identity, rollout in changes.rollouts.items():
            if rollout is not None and rollout.feeds:
                tp = _partition(rollout.feeds[0])
                records.append((tp, _rollout_key(identity), _rollout_value(rollout)))
                touched.add(tp)
        for identity, feed in gone.items():
            if feed is not None:
                records.append((_partition(feed), _rollout_key(identity), None))
                touched.add(_partition(feed))
        local.begin()
        # Dirty until the broker has the records: also a partition no longer assigned, whose
        # snapshot is then read again in full should it come back.
        local.connection.executemany(
            "INSERT INTO changelog_positions VALUES (?, ?, 0, 1) "
            "ON CONFLICT (topic, partition) DO UPDATE SET dirty = 1",
            sorted(touched),
        )
        local.commit(changes, findings, offsets)
        mine = touched & self._assigned
        for event_type in changes.new_unregistered:
            records += [(tp, _TYPE + event_type.encode(), b"") for tp in mine or self._assigned]
        stored = local.offsets()
        for tp in sorted(mine):
            records.append((tp, _POSITION, self._position(stored.get(tp), changes.clock)))
        self._pending += [record for record in records if record[0] in self._assigned]

    def close(self) -> None:
        """Close the file; records not flushed are dropped, as in a crash (the next `assign`
        of their partitions sends them from the file)."""
        self._pending.clear()
        self._local.close()

    # ---- restoring a partition ------------------------------------------------------------

    async def _restore(self, tp: TopicPartition) -> None:
        row = self._local.connection.execute(
            "SELECT changelog_next, dirty FROM changelog_positions"
            " WHERE topic = ? AND partition = ?",
            tp,
        ).fetchone()
        feed = feed_name(tp)
        if row is not None and not row[1]:
            # The file holds the partition as of a changelog offset: read only what came after.
            self._put(tp, feed, await self._read(tp, row[0]), wipe=False)
            return
        snapshot_end = row[0] if row is not None else None
        whole = await self._read(tp, 0, writers_from=snapshot_end)
        if snapshot_end is not None and whole.writers <= {self.writer}:
            # Nobody else wrote since this file's snapshot, and the file has commits that the
            # broker never acknowledged (a crash): the changelog catches up with the file.
            self._republish(tp, feed, whole)
        else:
            self._put(tp, feed, whole, wipe=True)

    def _put(self, tp: TopicPartition, feed: str, folded: _Folded, *, wipe: bool) -> None:
        offsets = {tp: folded.next_offset} if folded.next_offset is not None else {}
        self._local.put_partition(
            feed, folded.rollouts, offsets, folded.clock, folded.types, wipe=wipe
        )
        conn = self._local.connection
        self._local.begin()
        conn.execute(
            "INSERT OR REPLACE INTO changelog_positions VALUES (?, ?, ?, 0)", (*tp, folded.end)
        )
        conn.execute("COMMIT")

    def _republish(self, tp: TopicPartition, feed: str, whole: _Folded) -> None:
        mine = {(r.expectation, r.key): r for r in self._local.rollouts_fed_by(feed)}
        for identity, rollout in mine.items():
            self._pending.append((tp, _rollout_key(identity), _rollout_value(rollout)))
        for identity, known in whole.rollouts.items():
            if known is not None and identity not in mine:
                self._pending.append((tp, _rollout_key(identity), None))
        clock = self._local.connection.execute("SELECT clock FROM engine_clock").fetchone()[0]
        next_offset = self._local.offsets().get(tp)
        self._pending.append((tp, _POSITION, self._position(next_offset, clock)))

    def _position(self, next_offset: int | None, clock: float | None) -> bytes:
        # orjson writes an infinite clock (nothing read yet) as null.
        return orjson.dumps({"next_offset": next_offset, "clock": clock, "writer": self.writer})

    async def _read(
        self, tp: TopicPartition, start: int, writers_from: int | None = None
    ) -> _Folded:
        """The changelog partition of `tp` from `start` to its end, folded; `writers` are
        those of the positions at `writers_from` or after (all when None)."""
        partition = KafkaPartition(self._topic(tp), tp[1])
        consumer = AIOKafkaConsumer(**self._client, enable_auto_commit=False, group_id=None)
        folded = _Folded(end=start)
        try:
            await consumer.start()
            consumer.assign([partition])
            consumer.seek(partition, start)
            async with asyncio.timeout(READ_TIMEOUT_S):
                while True:
                    batches = await consumer.getmany(partition, timeout_ms=200, max_records=5000)
                    for record in batches.get(partition, ()):
                        writers = writers_from is None or record.offset >= writers_from
                        try:
                            _fold(folded, record.key, record.value, writers)
                        except (ValueError, TypeError, KeyError) as error:
                            raise StoreError(
                                f"{partition.topic}[{partition.partition}] at offset"
                                f" {record.offset} is not a sentinel changelog record ({error}):"
                                " give state changelogs topics of their own"
                            ) from None
                        folded.end = record.offset + 1
                    # The high watermark, not end_offsets(): some brokers answer that wrongly
                    # for compacted topics. It is known once a fetch has answered.
                    highwater = consumer.highwater(partition)
                    if highwater is not None and folded.end >= highwater:
                        self.restores[tp] = (start, folded.end)
                        return folded
        except (KafkaError, TimeoutError) as error:
            raise StoreError(
                f"cannot read the state changelog {partition.topic}[{partition.partition}]:"
                f" {error or 'no answer'}"
            ) from None
        finally:
            await consumer.stop()

    def _topic(self, tp: TopicPartition) -> str:
        return changelog_topic(self._group_id, tp[0])

    def _running(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise StoreError("the state changelog is not started")
        return self._producer


def _fold(folded: _Folded, key: bytes | None, value: bytes | None, writers: bool) -> None:
    if not key:
        return
    kind, rest = key[:1], key[1:]
    if kind == _ROLLOUT:
        name, rollout_key = orjson.loads(rest)
        if value is None:
            folded.rollouts[(name, rollout_key)] = None
        else:
            head, body = value.split(b"\n", 1)
            phase, closed_at = orjson.loads(head)
            folded.rollouts[(name, rollout_key)] = (phase, closed_at, body)
    elif kind == _TYPE:
        folded.types.add(rest.decode())
    elif kind == _POSITION and value is not None:
        position = orjson.loads(value)
        folded.next_offset = position["next_offset"]
        if position["clock"] is not None:
            folded.clock = max(folded.clock, position["clock"])
        if writers:
            folded.writers.add(position["writer"])


def _rollout_key(identity: tuple[str, str]) -> bytes:
    return _ROLLOUT + orjson.dumps(list(identity))


def _rollout_value(rollout: RolloutState) -> bytes:
    return orjson.dumps([str(rollout.phase), rollout.closed_at]) + b"\n" + dump_body(rollout)


def _partition(feed: str) -> TopicPartition:
    topic, _, number = feed.rpartition("/")
    return (topic, int(number))
