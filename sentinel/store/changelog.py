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
commits offsets to Kafka. Closed rollouts also go to the history topic (history_topic.py).
On assignment a partition is restored from the changelog: only its tail when this replica's
file holds the partition as of a known changelog offset, the whole (compacted) partition
otherwise. Event ids and emitted finding ids stay local: a record read
again after a move is skipped by its offset, and its rollout already holds its effects. So do
the writer schema ids per type (`schema_changed`): each replica remembers the types it read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as KafkaPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError

from sentinel.core.engine.findings import Finding
from sentinel.core.engine.ports import EngineChanges
from sentinel.core.engine.rollout import RolloutState
from sentinel.core.errors import StoreError
from sentinel.core.events.records import Partition
from sentinel.core.ports.history import ClosedRollout, ExpectationOf
from sentinel.core.ports.outbox import Outbox
from sentinel.core.ports.store import Batch, StoredState
from sentinel.kafka.batches import BATCH_BYTES, KeyValue, send_all
from sentinel.kafka.topics import create_topics
from sentinel.store.codec import RolloutRow, dump_body
from sentinel.store.history_topic import HistoryTopic
from sentinel.store.sqlite import SqliteBatch, SqliteStore, StoredRollout

_ROLLOUT, _TYPE, _POSITION = b"r", b"u", b"o"
# Compaction works on closed segments only: small segments keep a restore short.
CHANGELOG_CONFIG = {"cleanup.policy": "compact", "segment.ms": str(3600 * 1000)}
READ_TIMEOUT_S = 30.0

# A changelog record to send: (its partition, key, value or None for a tombstone).
_Pending = tuple[Partition, bytes, bytes | None]


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

    Implements sentinel.core.ports.store.StateStore: transactions are local; `flush()` sends what
    they kept, `assign()` restores partitions from their changelogs, `revoke()` sends what
    is left. `load()` and `offsets()` give only the partitions assigned to this replica.
    """

    def __init__(
        self,
        local: SqliteStore,
        group_id: str,
        client: Mapping[str, Any],
        replication_factor: int = -1,  # the broker's default
        input_partitions: Callable[[], Awaitable[Mapping[str, int]]] | None = None,
    ) -> None:
        """`input_partitions`: the partition count of each input topic, for creating their
        changelogs at `start()` (None: the caller calls `ensure_topics` itself)."""
        self._local = local
        self._input_partitions = input_partitions
        self._replication = replication_factor
        self._group_id = group_id
        self._client = dict(client)  # bootstrap_servers and the security settings
        self._producer: AIOKafkaProducer | None = None
        self._assigned: set[Partition] = set()
        self._pending: list[_Pending] = []
        # The changelog offsets read by the last restore of each partition: (from, to).
        self.restores: dict[Partition, tuple[int, int]] = {}
        self.writer = local.writer_id()
        self.history_topic = HistoryTopic(local, group_id, self._client, replication_factor)

    # ---- Kafka ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(**self._client, acks="all", max_batch_size=BATCH_BYTES)
        try:
            await self._producer.start()
        except KafkaError as error:
            raise StoreError(f"cannot reach Kafka for the state changelog: {error}") from None
        if self._input_partitions is not None:
            await self.ensure_topics(await self._input_partitions())
        await self.history_topic.start()

    async def stop(self) -> None:
        """Send what is queued, then let go of Kafka (the local file stays open: `close()`)."""
        if self._producer is not None:
            try:
                await self.flush()
            finally:
                await self._producer.stop()
                self._producer = None
                await self.history_topic.stop()

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
        await self._flush_changelog()
        if self._producer is not None:
            await self.history_topic.send(self._producer)

    async def _flush_changelog(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        producer = self._running()
        # Each input partition's changelog partition (same number), named once per flush.
        changelog: dict[Partition, Partition] = {}
        by_partition: dict[Partition, list[KeyValue]] = {}
        for tp, key, value in pending:
            target = changelog.get(tp)
            if target is None:
                target = changelog[tp] = Partition(self._topic(tp), tp.number)
            by_partition.setdefault(target, []).append((key, value))
        try:
            written = await send_all(producer, by_partition)
        except KafkaError as error:
            self._pending = pending + self._pending  # sent again by the next flush
            raise StoreError(f"cannot write the state changelog: {error}") from None
        ends = {tp: written[target] for tp, target in changelog.items()}
        still_pending = {tp for tp, _, _ in self._pending}
        self._local.set_snapshot_positions(
            {tp: (end, tp in still_pending) for tp, end in ends.items()}
        )

    async def assign(self, partitions: Collection[Partition]) -> None:
        """Bring the rollouts of newly assigned partitions into the local file."""
        for tp in sorted(set(partitions) - self._assigned):
            self._assigned.add(tp)
            await self._restore(tp)
        await self.flush()

    async def revoke(self, partitions: Collection[Partition]) -> None:
        """Before partitions leave: their changes are sent; their rows stay as a snapshot."""
        await self.flush()
        self._assigned.difference_update(partitions)

    # ---- StateStore -----------------------------------------------------------------------

    def load(self, partitions: Collection[Partition] | None = None) -> StoredState:
        if partitions is not None:
            return self._local.load(partitions)
        state = self._local.load(self._assigned)
        whole = self._local.load()
        return StoredState(
            rollouts=state.rollouts,
            seen_events=whole.seen_events,
            unregistered_types=whole.unregistered_types,
            writer_ids=whole.writer_ids,
            clock=whole.clock,
            offsets=state.offsets,
        )

    def offsets(self) -> dict[Partition, int]:
        return {tp: off for tp, off in self._local.offsets().items() if tp in self._assigned}

    @contextmanager
    def transaction(self) -> Iterator[Batch]:
        with self._local.transaction() as local:
            batch = _ChangelogBatch(self, local)
            yield batch
        # Committed locally: now worth sending (a crash before `flush` republishes from the
        # file on the next assignment, since the partitions were marked dirty; history entries
        # were marked unsent, and `start` sends them).
        self._pending += [record for record in batch.records if record[0] in self._assigned]
        self.history_topic.queue(batch.history)

    def outbox(self) -> Outbox:
        return self._local.outbox()

    def history(self, expectation: str | None = None) -> Iterable[ClosedRollout]:
        return self._local.history(expectation)

    def closed_rollout(self, expectation: str, key: str) -> ClosedRollout | None:
        return self._local.closed_rollout(expectation, key)

    async def refresh_history(self) -> None:
        """What other replicas closed since the last read (a short wait: people are asking)."""
        await self.history_topic.read(timeout_s=5.0)

    def close(self) -> None:
        """Close the file; records not flushed are dropped, as in a crash (the next `assign`
        of their partitions sends them from the file)."""
        self._pending.clear()
        self.history_topic.drop_pending()
        self._local.close()

    def _touched(
        self, changes: EngineChanges, offsets: Mapping[Partition, int]
    ) -> tuple[list[_Pending], set[Partition]]:
        """The tombstones of a batch about to be written, and the partitions it touches.

        Inside the batch's transaction, before the local write: the partitions of deleted
        rollouts (where their tombstones go) are read from the rows about to go.
        """
        local = self._local
        gone = local.homes_of(i for i, rollout in changes.rollouts.items() if rollout is None)
        gone.update(local.closed_before(changes.horizon))
        touched = set(offsets)
        for rollout in changes.rollouts.values():
            if rollout is not None and rollout.home is not None:
                touched.add(rollout.home)
        tombstones: list[_Pending] = []
        for identity, home in gone.items():
            if home is not None:
                tombstones.append((home, _rollout_key(identity), None))
                touched.add(home)
        return tombstones, touched

    def _tail(self, changes: EngineChanges, touched: set[Partition]) -> list[_Pending]:
        """After the local write: new unregistered types and each partition's position."""
        records: list[_Pending] = []
        mine = touched & self._assigned
        for event_type in changes.new_unregistered:
            records += [(tp, _TYPE + event_type.encode(), b"") for tp in mine or self._assigned]
        stored = self._local.offsets()
        for tp in sorted(mine):
            records.append((tp, _POSITION, self._position(stored.get(tp), changes.clock)))
        return records

    # ---- restoring a partition ------------------------------------------------------------

    async def _restore(self, tp: Partition) -> None:
        snapshot = self._local.snapshot_position(tp)
        if snapshot is not None and not snapshot[1]:
            # The file holds the partition as of a changelog offset: read only what came after.
            self._put(tp, await self._read(tp, snapshot[0]), wipe=False)
            return
        snapshot_end = snapshot[0] if snapshot is not None else None
        whole = await self._read(tp, 0, writers_from=snapshot_end)
        if snapshot_end is not None and whole.writers <= {self.writer}:
            # Nobody else wrote since this file's snapshot, and the file has commits that the
            # broker never acknowledged (a crash): the changelog catches up with the file.
            self._republish(tp, whole)
        else:
            self._put(tp, whole, wipe=True)

    def _put(self, tp: Partition, folded: _Folded, *, wipe: bool) -> None:
        self._local.put_partition(
            tp, folded.rollouts, folded.next_offset, folded.clock, folded.types, wipe=wipe
        )
        self._local.set_snapshot_positions({tp: (folded.end, False)})

    def _republish(self, tp: Partition, whole: _Folded) -> None:
        mine = {(r.expectation, r.key): r for r in self._local.rollouts_homed_in(tp)}
        for identity, rollout in mine.items():
            self._pending.append((tp, _rollout_key(identity), _rollout_value(rollout)))
        for identity, known in whole.rollouts.items():
            if known is not None and identity not in mine:
                self._pending.append((tp, _rollout_key(identity), None))
        state = self._local.load([tp])
        self._pending.append((tp, _POSITION, self._position(state.offsets.get(tp), state.clock)))

    def _position(self, next_offset: int | None, clock: float) -> bytes:
        # orjson writes an infinite clock (nothing read yet) as null.
        return orjson.dumps({"next_offset": next_offset, "clock": clock, "writer": self.writer})

    async def _read(self, tp: Partition, start: int, writers_from: int | None = None) -> _Folded:
        """The changelog partition of `tp` from `start` to its end, folded; `writers` are
        those of the positions at `writers_from` or after (all when None)."""
        partition = KafkaPartition(self._topic(tp), tp.number)
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

    def _topic(self, tp: Partition) -> str:
        return changelog_topic(self._group_id, tp.topic)

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
    return _row_value(str(rollout.phase), rollout.closed_at, dump_body(rollout))


def _changed(rows: Sequence[RolloutRow]) -> list[_Pending]:
    """The changelog records of the rollouts a batch wrote locally, from the rows as written
    (the same bytes as `_rollout_value`, not made a second time)."""
    return [
        (Partition(topic, number), _rollout_key((name, key)), _row_value(phase, closed, body))
        for name, key, phase, closed, body, topic, number in rows
        if topic is not None and number is not None
    ]


def _row_value(phase: str, closed_at: float | None, body: bytes) -> bytes:
    """A rollout's changelog value: `[phase, closed_at]`, a newline, its body."""
    return orjson.dumps([phase, closed_at]) + b"\n" + body


class _ChangelogBatch:
    """The local batch, plus the changelog records it makes (sent after the commit)."""

    def __init__(self, store: ChangelogStore, local: SqliteBatch) -> None:
        self._store = store
        self._local = local
        self.records: list[_Pending] = []
        self.history: list[tuple[tuple[str, str], bytes | None]] = []

    def fresh(self, findings: Sequence[Finding]) -> list[Finding]:
        return self._local.fresh(findings)

    def write(
        self,
        changes: EngineChanges,
        findings: Sequence[Finding],
        offsets: Mapping[Partition, int],
        expectation_of: ExpectationOf | None = None,
    ) -> None:
        store = self._store
        deleted, touched = store._touched(changes, offsets)
        # Dirty until the broker has the records: also a partition no longer assigned, whose
        # snapshot is then read again in full should it come back.
        store._local.mark_dirty(touched)
        tombstones = store.history_topic.before_write(changes.clock, store._assigned)
        self._local.write(changes, findings, offsets, expectation_of)
        self.records = _changed(self._local.rows) + deleted + store._tail(changes, touched)
        self.history = tombstones + store.history_topic.after_write(self._local.closed)
