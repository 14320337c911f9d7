"""The bus, as the watcher sees it: batches of plain records from aiokafka, committed by hand."""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Collection, Iterable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from sentinel.kafka.client import consumer_kwargs
from sentinel.kafka.settings import KafkaSettings
from sentinel.records import Partition, Record

log = logging.getLogger(__name__)


class PartitionListener(Protocol):
    """Told about every rebalance; aiokafka rebalances eagerly, so both get whole sets."""

    async def on_revoked(self, partitions: frozenset[Partition]) -> None:
        """Before a rebalance, with every partition held until now: commit, drop state."""

    async def on_assigned(self, partitions: frozenset[Partition]) -> None:
        """After a rebalance, with every partition held from now on."""


def merged_by_time(by_partition: list[list[Record]]) -> list[Record]:
    """Batches of several partitions in broker-timestamp order, each partition's own order
    kept: the closest a consumer gets to the order in which events were produced."""
    if len(by_partition) < 2:
        return [record for batch in by_partition for record in batch]
    return list(heapq.merge(*by_partition, key=_timestamp))


def _timestamp(record: Record) -> float:
    return record.timestamp if record.timestamp is not None else 0.0


class KafkaSource:
    """A consumer group member over the configured topics; nothing is committed automatically."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._listener: PartitionListener | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._last_answer = 0  # newest fetch answer, in aiokafka's epoch milliseconds
        self.last_fetch_ok: float | None = None  # time.monotonic() of the last broker answer

    async def start(self, listener: PartitionListener) -> None:
        """Connect and join the group, telling `listener` about every rebalance."""
        self._listener = listener
        consumer = AIOKafkaConsumer(**consumer_kwargs(self._settings))
        consumer.subscribe(list(self._settings.topics), listener=_Rebalance(listener))
        self._consumer = consumer
        await consumer.start()

    async def stop(self) -> None:
        """Revoke every partition (the listener commits), then leave the group.

        aiokafka itself does not call the revoke callback on stop; calling it here gives a
        stop and a rebalance one code path. Records not committed by then are read again.
        """
        if self._consumer is None:
            return
        consumer = self._consumer
        held = _pairs(consumer.assignment())
        try:
            if held and self._listener is not None:
                await self._listener.on_revoked(held)
        finally:
            self._consumer = None
            await consumer.stop()

    async def fetch(self, max_records: int, timeout_s: float) -> list[Record]:
        """Up to `max_records` records, merged by broker time across partitions (each in its
        offset order); [] after `timeout_s`."""
        consumer = self._running()
        batches = await consumer.getmany(
            timeout_ms=round(timeout_s * 1000), max_records=max_records
        )
        records = []
        for tp, messages in batches.items():
            partition = Partition(tp.topic, tp.partition)
            records.append(
                [
                    Record(
                        partition,
                        message.offset,
                        message.value,
                        message.headers,
                        message.key,
                        message.timestamp / 1000 if message.timestamp >= 0 else None,
                    )
                    for message in messages
                ]
            )
        self._note_answer(consumer, bool(records))
        return merged_by_time(records)

    def _note_answer(self, consumer: AIOKafkaConsumer, got_records: bool) -> None:
        # An idle bus gives empty fetches, a stuck consumer too: what tells them apart is
        # whether the broker still answers fetch requests, which aiokafka stamps per partition.
        assignment = consumer.assignment()
        newest = max((consumer.last_poll_timestamp(tp) or 0 for tp in assignment), default=0)
        # A member without partitions has nothing to fetch; /readyz reports that case.
        if got_records or not assignment or newest != self._last_answer:
            self.last_fetch_ok = time.monotonic()
        self._last_answer = newest

    async def commit(
        self, offsets: Mapping[Partition, int], timeout_s: float | None = 10.0
    ) -> bool:
        """Commit the next offset to read per partition; False when the group moved on.

        Partitions no longer assigned are left out: their new owner reads them again, and
        every effect is idempotent, so redelivery costs nothing but time. The timeout keeps
        a stop from hanging while the broker is unreachable (aiokafka retries forever).
        """
        consumer = self._running()
        assigned = consumer.assignment()
        owned = {
            tp: offset
            for partition, offset in offsets.items()
            if (tp := TopicPartition(*partition)) in assigned
        }
        if len(owned) < len(offsets):
            log.debug("not committing partitions no longer assigned: %s", _skipped(offsets, owned))
        if not owned:
            return not offsets
        try:
            await asyncio.wait_for(consumer.commit(owned), timeout_s)
        except (CommitFailedError, IllegalStateError) as error:
            log.warning("commit refused, the records will be read again: %s", error)
            return False
        except TimeoutError:
            log.warning("commit timed out after %ss, the records will be read again", timeout_s)
            return False
        return len(owned) == len(offsets)

    async def seek(self, partition: Partition, offset: int) -> None:
        """Read `partition` from `offset` on, whatever the group committed.

        For `on_assigned`, with the offset the state store kept alongside the effects: the
        store may be ahead of Kafka (a crash between the two commits) or, after a power loss
        took its last batches, behind it.
        """
        self._running().seek(TopicPartition(*partition), offset)

    def pause(self, partitions: Collection[Partition]) -> None:
        """Fetch nothing more from these partitions until `resume` (the group is kept)."""
        assigned = self._running().assignment()
        held = [tp for p in partitions if (tp := TopicPartition(*p)) in assigned]
        self._running().pause(*held)

    def resume(self, partitions: Collection[Partition]) -> None:
        assigned = self._running().assignment()
        held = [tp for p in partitions if (tp := TopicPartition(*p)) in assigned]
        self._running().resume(*held)

    async def lags(self) -> dict[Partition, int | None]:
        """Records behind the partition's end, per assigned partition; None before a fetch."""
        consumer = self._running()
        lags: dict[Partition, int | None] = {}
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            try:
                lag = None if highwater is None else max(0, highwater - await consumer.position(tp))
            except IllegalStateError:  # revoked while we asked
                continue
            lags[Partition(tp.topic, tp.partition)] = lag
        return lags

    def assigned(self) -> frozenset[Partition]:
        if self._consumer is None:
            return frozenset()
        return _pairs(self._consumer.assignment())

    def _running(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("KafkaSource is not started")
        return self._consumer


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """aiokafka's listener interface, forwarded with plain (topic, partition) pairs."""

    def __init__(self, listener: PartitionListener) -> None:
        self._listener = listener

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        # aiokafka also calls this before the first join, with nothing held: not a revoke.
        if partitions := _pairs(revoked):
            await self._listener.on_revoked(partitions)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._listener.on_assigned(_pairs(assigned))


def _pairs(partitions: Iterable[TopicPartition]) -> frozenset[Partition]:
    return frozenset(Partition(tp.topic, tp.partition) for tp in partitions)


def _skipped(offsets: Mapping[Partition, int], owned: Mapping[TopicPartition, int]) -> list[str]:
    return sorted(f"{t}[{p}]" for t, p in offsets if TopicPartition(t, p) not in owned)
