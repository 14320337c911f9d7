"""A record the Kafka client itself cannot decode never stops the source: it comes back as a
fault at its offset, and nothing before or after it, on any partition, is lost."""

from __future__ import annotations

from typing import Any

import pytest

from sentinel.core.events.records import Partition, Record
from sentinel.kafka.broker import EmbeddedBroker

from .producer import send_raw_headers

pytestmark = pytest.mark.broker


async def fetch_all(source: Any, count: int) -> list[Record]:
    records: list[Record] = []
    for _ in range(40):
        records += await source.fetch(max_records=500, timeout_s=0.25)
        if len(records) >= count:
            break
    return records


async def test_a_header_name_that_is_not_utf8_is_a_fault_and_reading_goes_on(
    broker: EmbeddedBroker, topic_factory: Any, produce: Any, start_source: Any
) -> None:
    topic = await topic_factory(partitions=2)
    for number in range(3):
        await produce(topic, b'{"n": %d}' % number, partition=0)
        await produce(topic, b'{"m": %d}' % number, partition=1)
    bad = await send_raw_headers(
        broker.bootstrap_servers, topic, b"{}", [(b"ce_\xff\xfe", b"x")], partition=0
    )
    for number in range(3, 5):
        await produce(topic, b'{"n": %d}' % number, partition=0)
        await produce(topic, b'{"m": %d}' % number, partition=1)
    source = await start_source([topic])
    records = await fetch_all(source, 11)
    by_partition = {
        p: [(r.offset, r.value, r.fault is not None) for r in records if r.partition == p]
        for p in (Partition(topic, 0), Partition(topic, 1))
    }
    assert by_partition[Partition(topic, 1)] == [(n, b'{"m": %d}' % n, False) for n in range(5)], (
        "the other partition lost nothing"
    )
    values = [(offset, value) for offset, value, _ in by_partition[Partition(topic, 0)]]
    assert values == [
        (0, b'{"n": 0}'), (1, b'{"n": 1}'), (2, b'{"n": 2}'), (bad, None),
        (4, b'{"n": 3}'), (5, b'{"n": 4}'),
    ]  # fmt: skip
    [fault] = [r for r in records if r.fault is not None]
    assert fault.offset == bad == 3
    assert "cannot read this record: UnicodeDecodeError" in (fault.fault or "")
    await produce(topic, b'{"n": 5}', partition=0)
    later = await fetch_all(source, 1)
    assert [(r.offset, r.value) for r in later] == [(6, b'{"n": 5}')], "and it reads on"
