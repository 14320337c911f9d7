"""Whole producer batches against the real broker: every record, in its order, where the
returned offsets say, a record larger than a batch included."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from conftest import TopicFactory

from sentinel.core.events.records import Partition
from sentinel.kafka.batches import send_all
from sentinel.kafka.broker import EmbeddedBroker

pytestmark = pytest.mark.broker
SMALL_BATCH = 4096  # bytes: 30 records of 400 bytes take several batches


async def read_back(
    broker: EmbeddedBroker, partition: Partition
) -> list[tuple[int, bytes, bytes | None]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap_servers)
    await consumer.start()
    try:
        tp = TopicPartition(*partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        found = []
        for _ in range(30):  # a fetch a second at most: never a hang should the broker stall
            if len(found) >= end:
                break
            for message in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                assert message.key is not None
                found.append((message.offset, message.key, message.value))
        return found
    finally:
        await consumer.stop()


async def test_each_partition_gets_its_records_in_order_and_its_end_offset(
    broker: EmbeddedBroker, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory(partitions=2)
    first, second = Partition(topic, 0), Partition(topic, 1)
    records = {
        first: [(b"k%d" % n, b"v" * 400 + b"%d" % n) for n in range(30)],
        second: [(b"gone", None), (b"kept", b"x")],  # a tombstone, then a record
    }
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, acks="all", max_batch_size=SMALL_BATCH
    )
    await producer.start()
    try:
        ends = await send_all(producer, records)
        again = await send_all(producer, {first: records[first][:1]})
    finally:
        await producer.stop()
    assert ends == {first: 30, second: 2}
    assert again == {first: 31}
    assert [(key, value) for _, key, value in await read_back(broker, first)] == [
        *records[first],
        records[first][0],
    ]
    assert await read_back(broker, second) == [(0, b"gone", None), (1, b"kept", b"x")]


async def test_a_record_larger_than_a_batch_is_a_batch_of_its_own(
    broker: EmbeddedBroker, topic_factory: TopicFactory
) -> None:
    topic = await topic_factory()
    partition = Partition(topic, 0)
    large = b"x" * 2 * SMALL_BATCH
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.bootstrap_servers, max_batch_size=SMALL_BATCH
    )
    await producer.start()
    try:
        ends = await send_all(producer, {partition: [(b"a", b"1"), (b"b", large), (b"c", b"3")]})
    finally:
        await producer.stop()
    assert ends == {partition: 3}
    assert await read_back(broker, partition) == [
        (0, b"a", b"1"),
        (1, b"b", large),
        (2, b"c", b"3"),
    ]
