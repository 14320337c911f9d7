"""The bus, as the watcher sees it: batches of plain records from aiokafka, committed by hand."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import (
    CommitFailedError,
    CorruptRecordException,
    IllegalStateError,
    KafkaConnectionError,
    KafkaError,
)
from aiokafka.structs import ConsumerRecord

from sentinel.core.engine.watermarks import Answer
from sentinel.core.errors import BusUnreachable
from sentinel.core.events.records import Partition, Record, from_messages, merged_by_time
from sentinel.kafka.options import consumer_kwargs
from sentinel.kafka.settings import KafkaSettings

log = logging.getLogger(__name__)
# What aiokafka raises while it decodes a fetched batch: UnicodeDecodeError for a header name
# that is not UTF-8, CorruptRecordException for a batch whose checksum does not match, and
# the parsing errors of a record cut short. Raised from getmany, with the records of the
# batch before it lost unless this source reads again from where it handed records over.
UNREADABLE = (UnicodeDecodeError, CorruptRecordException, ValueError, IndexError, struct.error)
# How often the end offsets of paused partitions are asked for (sentinel.runtime.registry_gate
# pauses a partition while a record waits for the registry).
PAUSED_ASK_S = 1.0
# How long the one-record fetches of `_read_carefully` wait for the broker.
CAREFUL_WAIT_MS = 1000
# The broker answers an idle partition's fetch at least every `kafka.fetch_max_wait` (0.1 s by
# default, 1 s at most): a silence this long means the broker (or this process) was away, and
# producers buffered meanwhile.
OUTAGE_GAP_S = 2.0


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
        self.topics = settings.topics
        self.unreachable_after = settings.unreachable_after
        self._consumer: AIOKafkaConsumer | None = None
        self._last_answer = 0  # newest fetch answer, in aiokafka's epoch milliseconds
        self.last_fetch_ok: float | None = None  # time.monotonic() of the last broker answer
        self.answered_at: float | None = None  # time.time() of the last broker answer
        self._rebalance: _Rebalance | None = None
        self._answers: dict[TopicPartition, _AnswerTimes] = {}
        self._errors = _LastError()
        # Per partition, the offset after the last record handed over.
        self._next: dict[TopicPartition, int] = {}
        # End offsets of paused partitions, asked for at most once per PAUSED_ASK_S.
        self._paused_ends: dict[TopicPartition, int] = {}
        self._paused_asked = float("-inf")

    @property
    def last_error(self) -> str | None:
        """What the Kafka client last complained of (connection refused, timeouts)."""
        return self._errors.message

    async def start(self, listener: PartitionListener) -> None:
        """Connect and join the group, telling `listener` about every rebalance.

        Raises BusUnreachable when no bootstrap server can be reached; a failed start leaves
        nothing behind, so it can be called again.
        """
        self._rebalance = _Rebalance(listener)
        consumer = AIOKafkaConsumer(**consumer_kwargs(self._settings))
        consumer.subscribe(list(self._settings.topics), listener=self._rebalance)
        logging.getLogger("aiokafka").addHandler(self._errors)
        self._consumer = consumer  # the rebalance callbacks may run before start returns
        try:
            await consumer.start()
        except KafkaConnectionError as error:
            self._consumer = None
            await consumer.stop()
            servers = ",".join(self._settings.bootstrap_servers)
            raise BusUnreachable(f"cannot reach Kafka at {servers}: {error}") from None
        except BaseException:
            self._consumer = None
            await consumer.stop()
            raise

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
            logging.getLogger("aiokafka").removeHandler(self._errors)

    @property
    def failure(self) -> Exception | None:
        """What a rebalance callback raised, if one did: the member must not go on."""
        return None if self._rebalance is None else self._rebalance.failure

    async def fetch(self, max_records: int, timeout_s: float) -> list[Record]:
        """Up to `max_records` records, merged by broker time across partitions (each in its
        offset order); [] after `timeout_s`. Raises what a rebalance callback raised.

        A record the Kafka client cannot decode (a header name that is not UTF-8, a corrupt
        batch) comes back as a `Record` with its `fault`, and reading goes on after it.
        """
        consumer = self._running()
        if self.failure is not None:
            raise self.failure
        for tp in consumer.assignment():
            if tp not in self._next:  # where to come back to, should a fetch fail
                self._next[tp] = await consumer.position(tp)
        try:
            batches = await consumer.getmany(
                timeout_ms=round(timeout_s * 1000), max_records=max_records
            )
        except UNREADABLE as error:
            log.warning("the Kafka client could not read a fetched record (%s); finding it", error)
            records = await self._read_carefully(consumer, max_records)
        else:
            records = [self._took(tp, messages) for tp, messages in batches.items()]
        self._note_answer(consumer, bool(records))
        return merged_by_time(records)

    def _took(self, tp: TopicPartition, messages: list[ConsumerRecord]) -> list[Record]:
        if messages:
            self._next[tp] = messages[-1].offset + 1
        return from_messages(Partition(tp.topic, tp.partition), messages)

    async def _read_carefully(
        self, consumer: AIOKafkaConsumer, max_records: int
    ) -> list[list[Record]]:
        """After the client failed to decode a fetch: each partition alone, one record at a
        time, so that the record it cannot read is found, reported as a fault and passed.

        The failed call may have taken records of other partitions and never returned them:
        every partition goes back to where this source last handed records over first.
        """
        for tp in consumer.assignment():
            if tp in self._next:
                consumer.seek(tp, self._next[tp])
        found: list[list[Record]] = []
        budget = max_records
        for tp in sorted(consumer.assignment() - consumer.paused()):
            taken = await self._read_partition_carefully(consumer, tp, budget)
            found.append(taken)
            budget -= len(taken)
            if budget <= 0:
                break
        return found

    async def _read_partition_carefully(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, budget: int
    ) -> list[Record]:
        partition = Partition(tp.topic, tp.partition)
        records: list[Record] = []
        while len(records) < budget:
            position = await consumer.position(tp)
            try:
                batch = await consumer.getmany(tp, timeout_ms=CAREFUL_WAIT_MS, max_records=1)
            except UNREADABLE as error:
                # The record at `position` (the first one there, should compaction have left
                # a gap) cannot be read: say so, and go on after it.
                reason = f"the Kafka client cannot read this record: {type(error).__name__}"
                records.append(Record(partition, position, None, fault=f"{reason}: {error}"))
                consumer.seek(tp, position + 1)
                self._next[tp] = position + 1
                continue
            messages = batch.get(tp, [])
            if not messages:
                break  # nothing more fetched in time: the next fetch goes on from here
            records += self._took(tp, messages)
        return records

    def _note_answer(self, consumer: AIOKafkaConsumer, got_records: bool) -> None:
        # An idle bus gives empty fetches, a stuck consumer too: what tells them apart is
        # whether the broker still answers fetch requests, which aiokafka stamps per partition.
        assignment = consumer.assignment()
        newest = max((consumer.last_poll_timestamp(tp) or 0 for tp in assignment), default=0)
        # A member without partitions has nothing to fetch; /readyz reports that case. Paused
        # partitions are not fetched: `answers()` asks for their end offsets instead.
        if got_records or not assignment or newest != self._last_answer:
            self._answered()
        self._last_answer = newest

    def _answered(self) -> None:
        self.last_fetch_ok = time.monotonic()
        self.answered_at = time.time()

    async def _ends_of_paused(self, consumer: AIOKafkaConsumer) -> None:
        """A paused partition (waiting for the registry) is not fetched, so neither its end
        offset nor the broker's answers would move: ask for its end offset, once a second."""
        paused = consumer.paused() & consumer.assignment()
        if not paused or time.monotonic() < self._paused_asked + PAUSED_ASK_S:
            return
        self._paused_asked = time.monotonic()
        try:
            ends = await asyncio.wait_for(consumer.end_offsets(list(paused)), PAUSED_ASK_S * 2)
        except (TimeoutError, KafkaError) as error:
            log.debug("no end offsets for the paused partitions: %s", error)
            return
        self._paused_ends = {tp: int(end) for tp, end in ends.items()}
        self._answered()

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
        tp = TopicPartition(*partition)
        self._running().seek(tp, offset)
        self._next[tp] = offset

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

    async def answers(self) -> dict[Partition, Answer]:
        """Per assigned partition, the broker's last answer: its end offset, the consumer's
        position, and a time the answer is known to postdate (sentinel.core.engine.watermarks).

        aiokafka stamps an answer when it arrives, and asks a broker again only once the
        previous answer arrived: so an answer was given after the previous one this source
        saw. After a silence longer than OUTAGE_GAP_S, answers prove nothing for
        `outage_grace`: producers are still resending what they buffered.
        """
        consumer = self._running()
        await self._ends_of_paused(consumer)
        answers: dict[Partition, Answer] = {}
        assignment = consumer.assignment()
        paused = consumer.paused()
        for tp in [tp for tp in self._answers if tp not in assignment]:
            del self._answers[tp]
        for tp in [tp for tp in self._next if tp not in assignment]:
            del self._next[tp]
        for tp in assignment:
            try:
                position = await consumer.position(tp)
            except IllegalStateError:  # revoked while we asked
                continue
            stamp = consumer.last_poll_timestamp(tp)
            times = self._answers.setdefault(tp, _AnswerTimes())
            since = None if not stamp else times.seen(stamp / 1000, self._settings.outage_grace)
            end = self._paused_ends.get(tp) if tp in paused else None
            answers[Partition(tp.topic, tp.partition)] = Answer(
                consumer.highwater(tp) if end is None else end, position, since
            )
        return answers

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


class _AnswerTimes:
    """When one partition's answers came, as far as this source saw them."""

    def __init__(self) -> None:
        self.stamp: float | None = None  # the last answer seen
        self.previous: float | None = None  # the one seen before it
        self.trusted_from = float("-inf")  # answers before this prove nothing

    def seen(self, stamp: float, grace: float) -> float | None:
        """Note the latest answer; the time it is known to postdate, if it proves anything."""
        if stamp != self.stamp:
            if self.stamp is not None and stamp - self.stamp > OUTAGE_GAP_S:
                self.trusted_from = stamp + grace
            self.previous, self.stamp = self.stamp, stamp
        if self.previous is None or self.previous < self.trusted_from:
            return None
        return self.previous


class _LastError(logging.Handler):
    """Keeps the Kafka client's last warning or error, for /readyz to name."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.message = record.getMessage()[:300]
        except Exception:  # a log call with bad arguments must not break the client
            self.message = str(record.msg)[:300]


def _pairs(partitions: Iterable[TopicPartition]) -> frozenset[Partition]:
    return frozenset(Partition(tp.topic, tp.partition) for tp in partitions)


def _skipped(offsets: Mapping[Partition, int], owned: Mapping[TopicPartition, int]) -> list[str]:
    return sorted(f"{t}[{p}]" for t, p in offsets if TopicPartition(t, p) not in owned)
