"""Records no well-behaved client would write, sent through the real broker: what a buggy or
hostile producer on a shared bus can do, for the tests that the sentinel survives it."""

from __future__ import annotations

from collections.abc import Sequence
from unittest import mock

import aiokafka.producer.message_accumulator as accumulator
import aiokafka.producer.producer as producer_module
from aiokafka import AIOKafkaProducer
from aiokafka.record.default_records import _DefaultRecordBatchBuilderPy


class RawName(str):
    """A header name whose bytes on the wire are `raw`, UTF-8 or not."""

    raw: bytes

    def __new__(cls, raw: bytes) -> RawName:
        made = super().__new__(cls, raw.decode("latin-1"))
        made.raw = raw
        return made

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return self.raw


async def send_raw_headers(
    bootstrap_servers: str,
    topic: str,
    value: bytes,
    headers: Sequence[tuple[bytes, bytes]],
    partition: int | None = None,
) -> int:
    """Send one record whose header names are the given bytes; its offset. aiokafka's compiled
    record builder insists on text, so the pure-Python one writes this record."""
    with (
        mock.patch.object(accumulator, "DefaultRecordBatchBuilder", _DefaultRecordBatchBuilderPy),
        mock.patch.object(
            producer_module, "DefaultRecordBatchBuilder", _DefaultRecordBatchBuilderPy
        ),
    ):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers)
        await producer.start()
        try:
            sent = await producer.send_and_wait(
                topic,
                value,
                headers=[(RawName(name), payload) for name, payload in headers],
                partition=partition,
            )
        finally:
            await producer.stop()
    return int(sent.offset)
