"""The bus, as the watcher sees it: batches of plain records from aiokafka, committed by hand."""

from __future__ import annotations

import asyncio
import heapq
import logging
import ssl
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.helpers import create_ssl_context

from sentinel.config import KafkaSettings
from sentinel.errors import ConfigError
from sentinel.kafka.topics import create_topics

log = logging.getLogger(__name__)

Partition = tuple[str, int]


# Not frozen: one is built per record on the hot path, and a frozen dataclass's __init__
# costs three times as much.
@dataclass(slots=True)
class Record:
    """One Kafka record; `offset + 1` is what to commit once its effects are kept."""

    topic: str
    partition: int
    offset: int
    timestamp: float | None  # the record's Kafka timestamp in epoch seconds, None if absent
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


class PartitionListener(Protocol):
    """Told about every rebalance; aiokafka rebalances eagerly, so both get whole sets."""

    async def on_revoked(self, partitions: frozenset[Partition]) -> None:
        """Before a rebalance, with every partition held until now: commit, drop state."""

    async def on_assigned(self, partitions: frozenset[Partition]) -> None:
        """After a rebalance, with every partition held from now on."""


def consumer_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """AIOKafkaConsumer's arguments for these settings: manual commits, security applied."""
    kwargs: dict[str, Any] = {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "client_id": settings.client_id,
        "group_id": settings.group_id,
        "auto_offset_reset": settings.auto_offset_reset,
        "enable_auto_commit": False,
        "security_protocol": settings.security_protocol,
    }
    if settings.session_timeout is not None:
        session_ms = round(settings.session_timeout * 1000)
        kwargs["session_timeout_ms"] = session_ms
        # Kafka wants heartbeats well inside the session: a third is its own advice.
        kwargs["heartbeat_interval_ms"] = max(1, min(3000, session_ms // 3))
    if settings.security_protocol.startswith("SASL_"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        kwargs["sasl_plain_password"] = settings.sasl_password
    if settings.security_protocol.endswith("SSL"):
        kwargs["ssl_context"] = _ssl_context(settings)
    return kwargs


def merged_by_time(records: Iterable[Record]) -> list[Record]:
    """A batch from several partitions in broker-timestamp order, each partition's own order
    kept: the closest a consumer gets to the order in which events were produced."""
    by_partition: dict[Partition, list[Record]] = {}
    for record in records:
        by_partition.setdefault((record.topic, record.partition), []).append(record)
    if len(by_partition) < 2:
        return [record for batch in by_partition.values() for record in batch]
    return list(heapq.merge(*by_partition.values(), key=_timestamp))


def _timestamp(record: Record) -> float:
    return record.timestamp if record.timestamp is not None else 0.0


_CONNECTION_KEYS = (
    "bootstrap_servers", "client_id", "security_protocol", "sasl_mechanism",
    "sasl_plain_username", "sasl_plain_password", "ssl_context",
)  # fmt: skip


def client_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """How to reach the cluster (servers, security), for producers and admin clients."""
    consumer = consumer_kwargs(settings)
    return {key: consumer[key] for key in _CONNECTION_KEYS if key in consumer}


async def ensure_topic(settings: KafkaSettings, name: str, partitions: int) -> None:
    """Create an internal topic if it is missing (an existing one is left as it is)."""
    topic = NewTopic(name, partitions, settings.replication_factor)
    problems = await create_topics(client_kwargs(settings), [topic])
    if problems:
        raise ConfigError(f"cannot create the internal topic {problems[0]}")


async def topic_partitions(settings: KafkaSettings, topics: Iterable[str]) -> dict[str, int]:
    """How many partitions each topic has (a missing topic is a ConfigError)."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    counts = {}
    for topic in described:
        name = topic.get("topic", topic.get("name"))
        if topic.get("error_code") or not topic.get("partitions"):
            raise ConfigError(f"kafka.topics: {name} does not exist on the cluster")
        counts[str(name)] = len(topic["partitions"])
    return counts


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    try:
        context: ssl.SSLContext = create_ssl_context(
            cafile=settings.ssl_cafile,
            certfile=settings.ssl_certfile,
            keyfile=settings.ssl_keyfile,
            # Never None: OpenSSL would prompt on the terminal for an encrypted key's password.
            password=settings.ssl_password or "",
        )
    except (ssl.SSLError, OSError) as error:
        key = "ssl_certfile" if settings.ssl_certfile is not None else "ssl_cafile"
        raise ConfigError(f"kafka.{key}: cannot load the TLS files: {error}") from None
    context.check_hostname = settings.ssl_check_hostname
    return context


class KafkaSource:
    """A consumer group member over the configured topics; nothing is committed automatically."""

    def __init__(self, settings: KafkaSettings, listener: PartitionListener) -> None:
        self._settings = settings
        self._listener = listener
        self._consumer: AIOKafkaConsumer | None = None
        self._last_answer = 0  # newest fetch answer, in aiokafka's epoch milliseconds
        self.last_fetch_ok: float | None = None  # time.monotonic() of the last broker answer

    async def start(self) -> None:
        """Connect and join the group; returns once the first assignment is known."""
        consumer = AIOKafkaConsumer(**consumer_kwargs(self._settings))
        consumer.subscribe(list(self._settings.topics), listener=_Rebalance(self._listener))
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
            if held:
                await self._listener.on_revoked(held)
        finally:
            self._consumer = None
            await consumer.stop()

    async def fetch(self, max_records: int, timeout_s: float) -> list[Record]:
        """Up to `max_records` records, in offset order per partition; [] after `timeout_s`."""
        consumer = self._running()
        batches = await consumer.getmany(
            timeout_ms=round(timeout_s * 1000), max_records=max_records
        )
        records = [
            Record(
                message.topic,
                message.partition,
                message.offset,
                message.timestamp / 1000 if message.timestamp >= 0 else None,
                message.key,
                message.value,
                message.headers,
            )
            for messages in batches.values()
            for message in messages
        ]
        self._note_answer(consumer, bool(records))
        return records

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
            for (topic, partition), offset in offsets.items()
            if (tp := TopicPartition(topic, partition)) in assigned
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
            lags[(tp.topic, tp.partition)] = lag
        return lags

    def assigned(self) -> frozenset[Partition]:
        if self._consumer is None:
            return frozenset()
        return frozenset((tp.topic, tp.partition) for tp in self._consumer.assignment())

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
    return frozenset((tp.topic, tp.partition) for tp in partitions)


def _skipped(offsets: Mapping[Partition, int], owned: Mapping[TopicPartition, int]) -> list[str]:
    return sorted(f"{t}[{p}]" for t, p in offsets if TopicPartition(t, p) not in owned)
