"""The history in changelog mode: the compacted topic `<group_id>-history`, one record per
closed rollout keyed by its expectation and key (contract section 11).

Every replica sends the rollouts it closes (after its local commit, with the changelog's
records) and reads what the others closed into its own file: the whole topic on start (only
the tail when its file already holds the history up to a known offset), then on demand, when
the rollout API asks for closed rollouts. An entry older than `history.retention` on the
engine's clock is pruned by every replica from its file; the replica that owns the rollout's
partition also sends its tombstone, so that compaction removes it from the topic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as KafkaPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import KafkaError

from sentinel.core.errors import StoreError
from sentinel.core.events.records import Partition
from sentinel.core.ports.history import ClosedRollout
from sentinel.kafka.batches import send_all
from sentinel.kafka.topics import create_topics
from sentinel.store import history_table
from sentinel.store.history_codec import entry_bytes, load_entry
from sentinel.store.sqlite import SqliteStore

HISTORY_CONFIG = {"cleanup.policy": "compact", "segment.ms": str(3600 * 1000)}
READ_TIMEOUT_S = 30.0
# How long a read waits for a fetch that says where the topic ends.
_POLL_MS = 50
# Short: a read on demand waits for two of them.
_FETCH_WAIT_MS = 100

# A record to send: (expectation, key) and the entry, or None for a tombstone.
_Pending = tuple[tuple[str, str], bytes | None]


def history_topic(group_id: str) -> str:
    return f"{group_id}-history"


class HistoryTopic:
    """The history topic of one replica: what it sends, and its reader."""

    def __init__(
        self,
        local: SqliteStore,
        group_id: str,
        client: Mapping[str, Any],
        replication_factor: int = -1,
    ) -> None:
        self.topic = history_topic(group_id)
        self._local = local
        self._client = dict(client)
        self._replication = replication_factor
        self._pending: list[_Pending] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._reading = asyncio.Lock()
        self._partition = KafkaPartition(self.topic, 0)

    async def start(self) -> None:
        """Create the topic if it is missing, then read it into the local file."""
        problems = await create_topics(
            self._client,
            [NewTopic(self.topic, 1, self._replication, topic_configs=HISTORY_CONFIG)],
        )
        if problems:
            raise StoreError(f"cannot create the history topic {problems[0]}")
        consumer = AIOKafkaConsumer(
            **self._client,
            enable_auto_commit=False,
            group_id=None,
            fetch_max_wait_ms=_FETCH_WAIT_MS,
        )
        try:
            await consumer.start()
        except KafkaError as error:
            raise StoreError(f"cannot reach Kafka for the history topic: {error}") from None
        consumer.assign([self._partition])
        known = self._local.snapshot_position(Partition(self.topic, 0))
        consumer.seek(self._partition, 0 if known is None else known[0])
        self._consumer = consumer
        # Closed here, never acknowledged before a crash: sent with the next flush.
        self._pending += [
            (entry.identity, entry_bytes(entry)) for entry in self._local.unsent_history()
        ]
        await self.read()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    def before_write(self, clock: float, assigned: set[Partition]) -> list[_Pending]:
        """Inside a batch, before the local write prunes them: the tombstones of the entries
        it prunes whose rollout's partition is this replica's."""
        pruned = self._local.history_closed_before(clock)
        return [(identity, None) for identity, home in pruned.items() if home in assigned]

    def after_write(self, closed: Sequence[ClosedRollout]) -> list[_Pending]:
        """Inside a batch, after the local write: the entries it closed, unsent until sent."""
        self._local.mark_history_unsent([entry.identity for entry in closed])
        return [(entry.identity, entry_bytes(entry)) for entry in closed]

    def queue(self, records: Sequence[_Pending]) -> None:
        """Records of a batch committed locally, for the next `send`."""
        self._pending += records

    def drop_pending(self) -> None:
        """Forget what is queued, as a crash does (the file still marks its entries unsent)."""
        self._pending.clear()

    async def send(self, producer: AIOKafkaProducer) -> None:
        """Send what is queued and wait for the broker; then they are no longer unsent."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        records = [(_key(identity), value) for identity, value in pending]
        try:
            await send_all(producer, {Partition(self.topic, 0): records})
        except KafkaError as error:
            self._pending = pending + self._pending  # sent again by the next flush
            raise StoreError(f"cannot write the history topic: {error}") from None
        sent = [identity for identity, value in pending if value is not None]
        self._local.put_history([], [], sent)

    async def read(self, timeout_s: float = READ_TIMEOUT_S) -> None:
        """Read what came since the last read into the local file (one transaction)."""
        consumer = self._consumer
        if consumer is None:
            return
        async with self._reading:
            rows: dict[tuple[str, str], history_table.HistoryRow | None] = {}
            # The high watermark, not end_offsets() (see the changelog's reader), as of a fetch
            # asked for after this read began: the fetch answered first may have been asked
            # before, so the second one counts. It holds every record acknowledged by then.
            asked_ms, last_poll, fresh_polls = time.time() * 1000, 0.0, 0
            try:
                async with asyncio.timeout(timeout_s):
                    while True:
                        batches = await consumer.getmany(self._partition, timeout_ms=_POLL_MS)
                        for record in batches.get(self._partition, ()):
                            _fold(rows, record.key, record.value, record.offset, self.topic)
                        polled = consumer.last_poll_timestamp(self._partition)
                        if polled is not None and polled > max(asked_ms, last_poll):
                            last_poll, fresh_polls = polled, fresh_polls + 1
                        highwater = consumer.highwater(self._partition)
                        end = await consumer.position(self._partition)
                        if fresh_polls >= 2 and highwater is not None and end >= highwater:
                            break
            except (KafkaError, TimeoutError) as error:
                raise StoreError(
                    f"cannot read the history topic {self.topic}: {error or 'no answer'}"
                ) from None
            kept = [row for row in rows.values() if row is not None]
            gone = [identity for identity, row in rows.items() if row is None]
            self._local.put_history(kept, gone, [])
            self._local.set_snapshot_positions({Partition(self.topic, 0): (end, False)})


def _fold(
    rows: dict[tuple[str, str], history_table.HistoryRow | None],
    key: bytes | None,
    value: bytes | None,
    offset: int,
    topic: str,
) -> None:
    try:
        name, rollout = orjson.loads(key or b"")
        entry = None if value is None else history_table.row(load_entry(value))
        rows[(name, rollout)] = entry
    except (ValueError, TypeError, StoreError) as error:
        raise StoreError(
            f"{topic} at offset {offset} is not a sentinel history record ({error}): give the "
            "history a topic of its own"
        ) from None


def _key(identity: tuple[str, str]) -> bytes:
    return orjson.dumps(list(identity))
