"""The bus's recent past for `sentinel learn --since`: read, never consumed as a group member.

The consumer has no group and commits nothing, so the live sentinel's group, its offsets and
its partitions are untouched. Partitions are assigned by hand, each starts at the first
offset at or after the given time (`offsets_for_times`) and stops at its end offset as of
the start: records produced meanwhile are left for the next run. A record whose timestamp is
older than the given time is skipped wherever it is. Records of all partitions come out
merged by timestamp, the closest to the order in which they were produced.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from sentinel.core.errors import SentinelError
from sentinel.core.events.records import Partition, Record
from sentinel.kafka.options import consumer_kwargs
from sentinel.kafka.settings import KafkaSettings

_FETCH_MS = 1000
_BATCH = 500


class HistoryError(SentinelError):
    """The history cannot be read: the cluster is unreachable, a topic is missing, or a
    partition stops short of its end offset."""


async def read_history(
    settings: KafkaSettings, since_ms: int, stall_s: float = 30.0
) -> AsyncIterator[Record]:
    """Every record of the configured topics from `since_ms` (epoch milliseconds) to the end
    offsets of the moment it starts. A partition that yields nothing for `stall_s` while
    short of its end offset is a HistoryError (records deleted under the reader, a broker
    gone)."""
    kwargs = consumer_kwargs(settings)
    kwargs["group_id"] = None
    kwargs["enable_auto_commit"] = False
    consumer = AIOKafkaConsumer(**kwargs)
    try:
        await consumer.start()
    except KafkaError as error:
        servers = ", ".join(settings.bootstrap_servers)
        raise HistoryError(f"cannot reach the Kafka cluster at {servers}: {error}") from None
    try:
        partitions = await _partitions(consumer, settings.topics)
        consumer.assign(partitions)
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        starts = await consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
        reading = []
        for tp in partitions:
            found = starts.get(tp)
            start = ends[tp] if found is None else found.offset  # None: nothing that recent
            if start < ends[tp]:
                consumer.seek(tp, start)
                reading.append(tp)
        async for record in _merged(consumer, reading, ends, since_ms, stall_s):
            yield record
    except KafkaError as error:
        raise HistoryError(f"reading the history failed: {error}") from None
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    known = await consumer.topics()
    partitions: list[TopicPartition] = []
    for topic in topics:
        numbers = consumer.partitions_for_topic(topic) if topic in known else None
        if not numbers:
            raise HistoryError(f"kafka.topics: {topic} does not exist on the cluster")
        partitions.extend(TopicPartition(topic, number) for number in sorted(numbers))
    return partitions


async def _merged(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    ends: dict[TopicPartition, int],
    since_ms: int,
    stall_s: float,
) -> AsyncIterator[Record]:
    """A k-way merge by timestamp: each partition's next records wait in a small buffer."""
    buffers: dict[TopicPartition, deque[ConsumerRecord]] = {tp: deque() for tp in partitions}
    active = set(partitions)
    while active:
        for tp in [tp for tp in active if not buffers[tp]]:
            if not await _refill(consumer, tp, ends[tp], buffers[tp], since_ms, stall_s):
                active.discard(tp)
        if not active:
            return
        tp = min(active, key=lambda tp: (buffers[tp][0].timestamp, tp.topic, tp.partition))
        message = buffers[tp].popleft()
        yield Record(
            Partition(tp.topic, tp.partition),
            message.offset,
            message.value,
            tuple(message.headers),
            timestamp=message.timestamp / 1000 if message.timestamp >= 0 else None,
        )


async def _refill(
    consumer: AIOKafkaConsumer,
    tp: TopicPartition,
    end: int,
    buffer: deque[ConsumerRecord],
    since_ms: int,
    stall_s: float,
) -> bool:
    """Fill the buffer of `tp`; False once the partition has nothing left before `end`."""
    waited = 0.0
    while True:
        if await consumer.position(tp) >= end:
            return False
        fetched = await consumer.getmany(tp, timeout_ms=_FETCH_MS, max_records=_BATCH)
        messages = fetched.get(tp, [])
        if not messages:
            waited += _FETCH_MS / 1000
            if waited >= stall_s:
                position = await consumer.position(tp)
                raise HistoryError(
                    f"{tp.topic}/{tp.partition}: nothing after offset {position} of {end} for"
                    f" {stall_s:.0f}s; was the topic truncated while it was read?"
                )
            continue
        waited = 0.0
        # Timestamps are not monotonic within a partition (producers' clocks, CreateTime):
        # a record older than `since` may follow the first that is not. Brokers that cannot
        # answer offsets_for_times (the embedded Tansu) start at the beginning: same filter.
        buffer.extend(m for m in messages if m.offset < end and not 0 <= m.timestamp < since_ms)
        if buffer:
            return True
