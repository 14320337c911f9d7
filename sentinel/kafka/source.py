"""The bus, as the watcher sees it: batches of plain records from aiokafka, committed by hand."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from sentinel.kafka.client import consumer_kwargs
from sentinel.kafka.settings import KafkaSettings
from sentinel.records import Partition, Record, from_messages, merged_by_time

log = logging.getLogger(__name__)


class PartitionListener(Protocol):
    """Told about every rebalance; aiokafka rebalances eagerly, so both get whole sets."""

    async def on_revoked(self, partitions: frozenset[Partition]) -> None:
        """Before a rebalance, with every partition held until now: commit, drop state."""

    async def on_assigned(self, partitions: frozenset[Partition]) -> None:
        """After a rebalance, with every partition held from now on."""


class KafkaSource:
    """A consumer group member over the configured topics; nothing is committed automatically."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._consumer: AIOKafkaConsumer | None = None
        self._last_answer = 0  # newest fetch answer, in aiokafka's epoch milliseconds
        self.last_fetch_ok: float | None = None  # time.monotonic() of the last broker answer
        self._rebalance: _Rebalance | None = None

    async def start(self, listener: PartitionListener) -> None:
        """Connect and join the group, telling `listener` about every rebalance."""
        self._rebalance = _Rebalance(listener)
        consumer = AIOKafkaConsumer(**consumer_kwargs(self._settings))
        consumer.subscribe(list(self._settings.topics), listener=self._rebalance)
        self._consumer = consumer
        await consumer.start()

    async def stop(self) -> None:
        """Revoke every partition (the listener commits), then leave the group.

        aiokafka itself does not call the revoke callback on stop; calling it here gives a
        stop and a rebalance one code path. Records not committed by then are read again.
        After a failed rebalance nothing is revoked or committed: the state of what is held
        is not known to be whole, and the next owner starts from the store.
        """
        if self._consumer is None:
            return
        consumer = self._consumer
        held = _pairs(consumer.assignment())
        rebalance = self._rebalance
        try:
            if held and rebalance is not None and rebalance.failure is None:
                await rebalance.listener.on_revoked(held)
        finally:
            self._consumer = None
            await consumer.stop()

    @property
    def failure(self) -> Exception | None:
        """What a rebalance callback raised, if one did: the member must not go on."""
        return None if self._rebalance is None else self._rebalance.failure

    async def fetch(self, max_records: int, timeout_s: float) -> list[Record]:
        """Up to `max_records` records, merged by broker time across partitions (each in its
        offset order); [] after `timeout_s`. Raises what a rebalance callback raised."""
        consumer = self._running()
        if self.failure is not None:
            raise self.failure
        batches = await consumer.getmany(
            timeout_ms=round(timeout_s * 1000), max_records=max_records
        )
        records = [
            from_messages(Partition(tp.topic, tp.partition), messages)
            for tp, messages in batches.items()
        ]
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
    """aiokafka's listener interface, forwarded with plain (topic, partition) pairs.

    aiokafka logs what a callback raises and carries on with the new assignment: partitions
    whose state was not restored (or not handed over) would then be read as if it were, and
    their open rollouts would never be reported. The first error is kept instead, and the
    source raises it at the next fetch.
    """

    def __init__(self, listener: PartitionListener) -> None:
        self.listener = listener
        self.failure: Exception | None = None

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        # aiokafka also calls this before the first join, with nothing held: not a revoke.
        if (partitions := _pairs(revoked)) and self.failure is None:
            await self._guarded(self.listener.on_revoked, partitions, "hand over")

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        if self.failure is None:
            await self._guarded(self.listener.on_assigned, _pairs(assigned), "take over")

    async def _guarded(
        self,
        callback: Callable[[frozenset[Partition]], Awaitable[None]],
        partitions: frozenset[Partition],
        verb: str,
    ) -> None:
        try:
            await callback(partitions)
        except Exception as error:
            self.failure = error
            log.error(
                "could not %s partitions %s: %s; stopping without committing them, so that"
                " a restart takes them over from the state store",
                verb, ", ".join(sorted(map(str, partitions))), error or type(error).__name__,
            )  # fmt: skip


def _pairs(partitions: Iterable[TopicPartition]) -> frozenset[Partition]:
    return frozenset(Partition(tp.topic, tp.partition) for tp in partitions)


def _skipped(offsets: Mapping[Partition, int], owned: Mapping[TopicPartition, int]) -> list[str]:
    return sorted(f"{t}[{p}]" for t, p in offsets if TopicPartition(t, p) not in owned)
