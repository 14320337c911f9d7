"""A fetch of several partitions becomes one batch in broker-time order, each partition's own
order kept."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentinel.core.events.records import Partition, Record, from_messages, merged_by_time
from sentinel.core.pipeline.replay import log_records

stamps = st.lists(st.one_of(st.none(), st.integers(0, 5).map(float)), max_size=8)


def batches(times: list[list[float | None]]) -> list[list[Record]]:
    return [
        [Record(Partition("t", number), offset, None, timestamp=at) for offset, at in enumerate(ts)]
        for number, ts in enumerate(times)
    ]


@given(st.lists(stamps, max_size=5))
def test_the_merge_is_heapq_merge_by_broker_time(times: list[list[float | None]]) -> None:
    """The order the watcher always had (heapq.merge), ties to the partition fetched first,
    records without a time as if at 0, and a partition whose times go back kept in order."""

    def key(record: Record) -> float:
        return record.timestamp if record.timestamp is not None else 0.0

    expected = list(heapq.merge(*batches(times), key=key))
    assert merged_by_time(batches(times)) == expected


@dataclass
class Message:
    offset: int
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    key: bytes | None
    timestamp: int


def test_messages_become_records_with_their_broker_time_in_seconds() -> None:
    partition = Partition("t", 2)
    messages = [
        Message(7, b"{}", [("ce_type", b"A"), ("empty", None)], b"k", 1_500),
        Message(8, None, [], None, -1),
    ]
    records = from_messages(partition, messages)
    assert [(r.offset, r.value, r.headers, r.key, r.timestamp) for r in records] == [
        (7, b"{}", [("ce_type", b"A"), ("empty", None)], b"k", 1.5),
        (8, None, [], None, None),
    ]
    assert {record.partition for record in records} == {partition}


@pytest.mark.parametrize("blank", ["", " ", "\t \r", "\x0b\x0c", "\u3000"])
def test_a_log_s_blank_lines_are_passed_over_and_keep_their_numbers(blank: str) -> None:
    """Every whitespace Python's strip() removes makes a line blank, as text or as bytes."""
    records = list(log_records([blank, '{"a": 1}', blank, '{"b": 2}']))
    assert [(r.offset, r.value) for r in records] == [(2, b'{"a": 1}'), (4, b'{"b": 2}')]
    if blank.isascii():
        assert [r.offset for r in log_records([blank.encode(), b'{"a": 1}'])] == [2]
